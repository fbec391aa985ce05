//! Compiles Envoy's external authorization protos (`proto/`, trimmed from
//! Envoy's API) into tonic's service and prost's messages, with protox: no
//! system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["envoy/service/auth/v3/external_auth.proto"], ["proto"])?;
    // The server for the decision listener; the client for the tests (it
    // is small, and transport-free: the caller brings the connection).
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
