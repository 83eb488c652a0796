//! The OpenAPI 3.1 document (utoipa) and the interactive docs page served from the binary.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

mod examples;
mod refine;

/// Top-level document; paths and schemas are collected from each resource's router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "shoplake",
        description = "Ingestion front door of a retail sales data lake: shops upload daily sales CSVs, analysts query them.\n\nEvery error is an RFC 9457 problem document (`application/problem+json`) whose `type` is a URI reference such as `/problems/invalid-csv`: on this service it leads to a page saying what the problem means and what to do (`/problems` lists them). Every answer carries `X-Request-Id`.\n\nThe reporting pages (daily sales dashboard, each shop's upload page) are at [/ui/](/ui/).",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "uploads", description = "Daily CSV uploads and their per-file status"),
        (name = "query", description = "Read-only SQL over the lake"),
        (name = "catalog", description = "Tables, partitions, Athena DDL and crawls"),
        (name = "health", description = "Liveness, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` (JWT) security scheme the routes refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The document the routes' annotations collected, refined ([`refine`]).
pub fn refined(collected: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut json = serde_json::to_value(&collected).expect("the OpenAPI document serialises");
    refine::refine(&mut json);
    serde_json::from_value(json).expect("the refined document is an OpenAPI document")
}
