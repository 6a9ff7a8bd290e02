//! InitProducerId for idempotent producers: a new producer id with epoch 0, or (v3+, KIP-360)
//! the same id with its epoch bumped when the client presents that id with its *current*
//! epoch (see `crate::producer_ids`): a wrong epoch gets INVALID_PRODUCER_EPOCH, an id this
//! broker does not know gets a fresh id, so no client can fence another's producer.
//! Producer ids are reserved in blocks in the metadata journal, so none is ever reissued.
//! With a transactional id the request goes to the transaction coordinator (this broker must
//! lead the id's `__transaction_state` partition), which bumps the id's epoch and fences older
//! producers (PRODUCER_FENCED from v4, INVALID_PRODUCER_EPOCH before).
//!
//! Authorization, as Kafka: a transactional id needs WRITE on it
//! (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); an idempotent producer needs IDEMPOTENT_WRITE on
//! the cluster or WRITE on some topic (KIP-679; CLUSTER_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::blocking;
use crate::broker::Broker;
use crate::producer_ids::Grant;

const INVALID_PRODUCER_EPOCH: i16 = 47;

pub(crate) fn handle(
    broker: &Arc<Broker>,
    req: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let authz = crate::authz::Authz::new(broker);
    if authz.enabled() {
        use strata_meta::acl::{AclOperation, ResourceType, CLUSTER_NAME};
        let denied = match &req.transactional_id {
            Some(id) => (!authz.txn(AclOperation::Write, id))
                .then_some(crate::authz::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
            None => (!authz.visible(
                AclOperation::IdempotentWrite,
                ResourceType::Cluster,
                CLUSTER_NAME,
            ) && !authz.any_of_type(AclOperation::Write, ResourceType::Topic))
            .then_some(crate::authz::CLUSTER_AUTHORIZATION_FAILED),
        };
        if let Some(code) = denied {
            return resp.with_error_code(code);
        }
    }
    if let Some(id) = &req.transactional_id {
        let fenced = strata_txn::fenced_code(version >= 4);
        let presented = (req.producer_id.0, req.producer_epoch);
        let txn = broker.txn.clone();
        let id = id.to_string();
        return match blocking(|| {
            txn.init_producer_id(&id, req.transaction_timeout_ms, presented, fenced)
        }) {
            Ok((pid, epoch)) => resp
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
            Err(code) => resp.with_error_code(code),
        };
    }
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 {
        match broker
            .producer_epochs()
            .request(req.producer_id.0, req.producer_epoch)
        {
            Grant::Bump(epoch) => {
                return resp
                    .with_producer_id(req.producer_id)
                    .with_producer_epoch(epoch)
            }
            Grant::WrongEpoch { current } => {
                tracing::warn!(
                    producer_id = req.producer_id.0,
                    presented = req.producer_epoch,
                    current,
                    "InitProducerId presented a stale epoch; refused"
                );
                return resp.with_error_code(INVALID_PRODUCER_EPOCH);
            }
            Grant::Fresh => {}
        }
    }
    match blocking(|| broker.allocate_producer_id()) {
        Ok(id) => {
            broker.producer_epochs().granted(id);
            resp.with_producer_id(ProducerId(id)).with_producer_epoch(0)
        }
        Err(e) => resp.with_error_code(e.kafka_error_code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: i64, epoch: i16) -> InitProducerIdRequest {
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn only_the_holder_of_the_current_epoch_can_bump_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = std::collections::BTreeMap::new();
        raw.insert("log.dirs".to_string(), dir.path().display().to_string());
        let broker = Broker::open(crate::BrokerConfig::from_map(raw).unwrap()).unwrap();

        let first = handle(&broker, req(-1, -1), 4);
        assert_eq!((first.error_code, first.producer_epoch), (0, 0));
        let id = first.producer_id.0;
        // Another client naming the id with a guessed epoch cannot fence it.
        let guess = handle(&broker, req(id, 5), 4);
        assert_eq!(guess.error_code, INVALID_PRODUCER_EPOCH);
        // The holder bumps; its old epoch is then stale.
        let bumped = handle(&broker, req(id, 0), 4);
        assert_eq!(
            (
                bumped.error_code,
                bumped.producer_id.0,
                bumped.producer_epoch
            ),
            (0, id, 1)
        );
        assert_eq!(
            handle(&broker, req(id, 0), 4).error_code,
            INVALID_PRODUCER_EPOCH
        );
        // An id this broker never granted gets a fresh id, never a bump.
        let unknown = handle(&broker, req(id + 500, 0), 4);
        assert_eq!(unknown.error_code, 0);
        assert_ne!(unknown.producer_id.0, id + 500);
        assert_eq!(unknown.producer_epoch, 0);
    }
}
