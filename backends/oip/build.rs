//! Generates the gRPC client of the Open Inference Protocol v2 from the vendored proto, parsed
//! by protox (pure Rust: no `protoc` on the build machine).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/grpc_predict_v2.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        // Tensor contents as `Bytes`: handed to the channel without a copy.
        .bytes(".inference")
        .compile_fds(descriptors)?;
    Ok(())
}
