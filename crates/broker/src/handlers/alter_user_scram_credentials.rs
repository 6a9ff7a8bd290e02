//! AlterUserScramCredentials: creates, replaces and deletes users' SCRAM credentials in cluster
//! metadata. The client sends the salt and the salted password (never the password); the
//! broker keeps only `StoredKey` and `ServerKey` derived from it.
//!
//! Per user, as Kafka: an unknown mechanism is UNSUPPORTED_SASL_MECHANISM, iterations outside
//! 4096..=16384 UNACCEPTABLE_CREDENTIAL, an empty user or salt UNACCEPTABLE_CREDENTIAL, a user
//! altered twice (same mechanism) in one request DUPLICATE_RESOURCE, deleting a credential that
//! does not exist RESOURCE_NOT_FOUND. A user's changes are applied only if all of them are valid.

use std::sync::Arc;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use strata_meta::Operation;

use super::{blocking, sb};
use crate::broker::Broker;
use crate::sasl::scram::{self, Mechanism};

const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const DUPLICATE_RESOURCE: i16 = 92;
const UNACCEPTABLE_CREDENTIAL: i16 = 93;

/// One user's planned change, or the error it gets.
type Planned = (String, Result<Operation, (i16, String)>);

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Each user's operations, in request order: deletions first, then upsertions.
    let mut users: Vec<String> = Vec::new();
    let mut ops: Vec<Planned> = Vec::new();
    let mut seen: Vec<(String, i8)> = Vec::new();
    let mut duplicate = std::collections::BTreeSet::new();
    for d in &req.deletions {
        let user = d.name.to_string();
        if seen.contains(&(user.clone(), d.mechanism)) {
            duplicate.insert(user.clone());
        }
        seen.push((user.clone(), d.mechanism));
        let op = match Mechanism::from_code(d.mechanism) {
            None => Err((
                UNSUPPORTED_SASL_MECHANISM,
                format!("Unknown SCRAM mechanism {}", d.mechanism),
            )),
            Some(_) if user.is_empty() => Err((
                UNACCEPTABLE_CREDENTIAL,
                "Username must not be empty".to_string(),
            )),
            Some(m) => Ok(Operation::DeleteScramCredential {
                user: user.clone(),
                mechanism: m.name().to_string(),
            }),
        };
        ops.push((user.clone(), op));
        users.push(user);
    }
    for u in &req.upsertions {
        let user = u.name.to_string();
        if seen.contains(&(user.clone(), u.mechanism)) {
            duplicate.insert(user.clone());
        }
        seen.push((user.clone(), u.mechanism));
        let iterations = u32::try_from(u.iterations).unwrap_or(0);
        let op = match Mechanism::from_code(u.mechanism) {
            None => Err((
                UNSUPPORTED_SASL_MECHANISM,
                format!("Unknown SCRAM mechanism {}", u.mechanism),
            )),
            Some(_) if user.is_empty() => Err((
                UNACCEPTABLE_CREDENTIAL,
                "Username must not be empty".to_string(),
            )),
            Some(_) if !strata_meta::scram::ITERATIONS.contains(&iterations) => Err((
                UNACCEPTABLE_CREDENTIAL,
                format!("Iterations {} must be within 4096..=16384", u.iterations),
            )),
            Some(_) if u.salt.is_empty() || u.salted_password.is_empty() => Err((
                UNACCEPTABLE_CREDENTIAL,
                "Salt and salted password must not be empty".to_string(),
            )),
            Some(m) => Ok(Operation::UpsertScramCredential(
                scram::credential_from_salted(&user, m, &u.salt, iterations, &u.salted_password),
            )),
        };
        ops.push((user.clone(), op));
        users.push(user);
    }
    users.dedup();
    let mut order: Vec<String> = Vec::new();
    for u in users {
        if !order.contains(&u) {
            order.push(u);
        }
    }
    let results = order
        .into_iter()
        .map(|user| {
            let result = AlterUserScramCredentialsResult::default().with_user(sb(&user));
            if duplicate.contains(&user) {
                return result
                    .with_error_code(DUPLICATE_RESOURCE)
                    .with_error_message(Some(sb(&format!(
                        "A user credential cannot be altered twice in the same request: {user}"
                    ))));
            }
            let mine: Vec<&Result<Operation, (i16, String)>> = ops
                .iter()
                .filter(|(u, _)| *u == user)
                .map(|(_, op)| op)
                .collect();
            if let Some(Err((code, msg))) = mine.iter().find(|op| op.is_err()) {
                return result
                    .with_error_code(*code)
                    .with_error_message(Some(sb(msg)));
            }
            for op in mine.into_iter().flatten() {
                let outcome =
                    blocking(|| crate::metadata_quorum::execute(broker.quorum(), op.clone()));
                if let Err(e) = outcome {
                    return result
                        .with_error_code(e.kafka_error_code())
                        .with_error_message(Some(sb(&e.message)));
                }
            }
            tracing::info!(%user, "SCRAM credentials altered");
            result
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}
