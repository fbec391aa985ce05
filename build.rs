//! Compiles the protos in `proto/` with protox (no system `protoc` is
//! needed): Envoy's external authorization API (trimmed from Envoy's API)
//! into tonic's service and prost's messages, and OpenTelemetry's trace
//! export messages (OTLP) into prost's messages only.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["envoy/service/auth/v3/external_auth.proto"], ["proto"])?;
    // The server for the decision listener; the client for the tests (it
    // is small, and transport-free: the caller brings the connection).
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(descriptors)?;
    // OTLP/HTTP is a plain POST of `ExportTraceServiceRequest`: the
    // messages are all the exporter needs, no gRPC service.
    let otlp = protox::compile(
        ["opentelemetry/proto/collector/trace/v1/trace_service.proto"],
        ["proto"],
    )?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(false)
        .compile_fds(otlp)?;
    Ok(())
}
