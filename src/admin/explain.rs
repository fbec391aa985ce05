//! `POST /explain`: the admin side of `portcullis explain`. Takes the
//! request to explain as JSON and answers the explanation as JSON, using
//! this gateway's current config and its session store (the memory store's
//! sessions exist only inside the running process).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::{error, read_json};
use crate::explain::{self, ExplainRequest};
use crate::gateway::Gateway;
use crate::reply::ProxyBody;

pub async fn handle(gateway: &Gateway, request: Request<Incoming>) -> Response<ProxyBody> {
    let input: ExplainRequest = match read_json(request).await {
        Ok(input) => input,
        Err(refused) => return refused,
    };
    let config = gateway.config();
    match explain::explain(&config, gateway.store(), &input).await {
        Ok(explanation) => match serde_json::to_vec(&explanation) {
            Ok(body) => crate::reply::json(StatusCode::OK, body.into()),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        Err(problem) => error(StatusCode::BAD_REQUEST, &problem),
    }
}
