//! Envoy's external authorization API (`proto/`), as compiled by
//! `build.rs`: the messages of `envoy.service.auth.v3.Authorization/Check`,
//! tonic's server for it and a transport-free client.
// Generated code: its docs are Envoy's comments, its shapes prost's.
#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod envoy {
    pub mod service {
        pub mod auth {
            pub mod v3 {
                tonic::include_proto!("envoy.service.auth.v3");
            }
        }
    }
    pub mod config {
        pub mod core {
            pub mod v3 {
                tonic::include_proto!("envoy.config.core.v3");
            }
        }
    }
    pub mod r#type {
        pub mod v3 {
            tonic::include_proto!("envoy.r#type.v3");
        }
    }
}

pub mod google {
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}
