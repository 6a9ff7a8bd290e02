//! DescribeUserScramCredentials: each user's SCRAM mechanisms and iteration counts (never the
//! salts or keys), from cluster metadata. A named user without credentials gets
//! RESOURCE_NOT_FOUND; a user named twice gets DUPLICATE_RESOURCE, as in Kafka.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::sb;
use crate::broker::Broker;
use crate::sasl::scram::Mechanism;

const RESOURCE_NOT_FOUND: i16 = 91;
const DUPLICATE_RESOURCE: i16 = 92;

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let image = broker.meta();
    let describe = |user: &str, creds: &BTreeMap<String, strata_meta::ScramCredential>| {
        DescribeUserScramCredentialsResult::default()
            .with_user(sb(user))
            .with_credential_infos(
                creds
                    .values()
                    .filter_map(|c| {
                        Mechanism::parse(&c.mechanism).map(|m| {
                            CredentialInfo::default()
                                .with_mechanism(m.code())
                                .with_iterations(c.iterations as i32)
                        })
                    })
                    .collect(),
            )
    };
    let results = match req.users {
        // Null or empty: every user.
        None => image
            .scram
            .iter()
            .map(|(u, creds)| describe(u, creds))
            .collect(),
        Some(users) if users.is_empty() => image
            .scram
            .iter()
            .map(|(u, creds)| describe(u, creds))
            .collect(),
        Some(users) => {
            let names: Vec<String> = users.iter().map(|u| u.name.to_string()).collect();
            names
                .iter()
                .map(|name| {
                    if names.iter().filter(|n| *n == name).count() > 1 {
                        return DescribeUserScramCredentialsResult::default()
                            .with_user(sb(name))
                            .with_error_code(DUPLICATE_RESOURCE)
                            .with_error_message(Some(sb(&format!(
                                "Cannot describe SCRAM credentials for the same user twice in a single request: {name}"
                            ))));
                    }
                    match image.scram.get(name) {
                        Some(creds) => describe(name, creds),
                        None => DescribeUserScramCredentialsResult::default()
                            .with_user(sb(name))
                            .with_error_code(RESOURCE_NOT_FOUND)
                            .with_error_message(Some(sb(&format!(
                                "Attempt to describe a user credential that does not exist: {name}"
                            )))),
                    }
                })
                .collect()
        }
    };
    DescribeUserScramCredentialsResponse::default().with_results(results)
}
