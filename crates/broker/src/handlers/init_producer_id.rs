//! InitProducerId for idempotent producers: a new producer id with epoch 0, or (v3+, KIP-360)
//! the same id with its epoch bumped when the client passes its current id and epoch.
//! Producer ids are reserved in blocks in the metadata journal, so none is ever reissued.
//! Transactional ids get COORDINATOR_NOT_AVAILABLE until transactions land.

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::blocking;
use crate::broker::Broker;

const COORDINATOR_NOT_AVAILABLE: i16 = 15;

pub(crate) fn handle(broker: &Arc<Broker>, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if req.transactional_id.is_some() {
        return resp.with_error_code(COORDINATOR_NOT_AVAILABLE);
    }
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return resp
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    match blocking(|| broker.meta().allocate_producer_id()) {
        Ok(id) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => resp.with_error_code(e.kafka_error_code()),
    }
}
