use super::*;
use std::collections::HashMap;

fn section(toml: &str) -> TelemetryConfig {
    use figment::providers::Format;
    #[derive(Deserialize)]
    struct Doc {
        telemetry: TelemetryConfig,
    }
    let doc = format!("[telemetry]\n{toml}");
    figment::Figment::from(figment::providers::Toml::string(&doc))
        .extract::<Doc>()
        .unwrap()
        .telemetry
}

fn resolve(config: &TelemetryConfig, vars: &[(&str, &str)]) -> Result<Option<TraceExport>, String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    config
        .resolve(&|name| vars.get(name).cloned())
        .map_err(|e| e.to_string())
}

fn on(config: &TelemetryConfig, vars: &[(&str, &str)]) -> TraceExport {
    resolve(config, vars)
        .unwrap()
        .unwrap_or_else(|| unreachable!("tracing should be on"))
}

#[test]
fn off_without_a_section_or_variables() {
    assert!(resolve(&TelemetryConfig::default(), &[]).unwrap().is_none());
    // An empty variable counts as unset.
    assert!(
        resolve(
            &TelemetryConfig::default(),
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "")]
        )
        .unwrap()
        .is_none()
    );
}

#[test]
fn the_standard_endpoint_variable_turns_tracing_on_with_the_spec_defaults() {
    let export = on(
        &TelemetryConfig::default(),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")],
    );
    assert_eq!(export.protocol, OtlpProtocol::Http);
    assert_eq!(export.endpoint.as_str(), "http://collector:4318/v1/traces");
    assert_eq!(
        export.sampling,
        Sampling {
            ratio: 1.0,
            parent_based: true
        }
    );
    assert_eq!(export.service_name, "omnigate");
}

#[test]
fn the_traces_endpoint_variable_is_used_as_it_is_and_grpc_keeps_the_address() {
    let export = on(
        &TelemetryConfig::default(),
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:9999/custom"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
        ],
    );
    assert_eq!(export.endpoint.as_str(), "http://c:9999/custom");
    let grpc = on(
        &TelemetryConfig::default(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ],
    );
    assert_eq!(grpc.protocol, OtlpProtocol::Grpc);
    assert_eq!(grpc.endpoint.as_str(), "http://c:4317/");
}

#[test]
fn the_config_file_wins_over_the_environment() {
    let config = section(
        "otlp_endpoint = \"http://mine:4318/base/\"\nprotocol = \"http\"\nsampling_ratio = 0.25\nservice_name = \"edge-gw\"",
    );
    let export = on(
        &config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://theirs:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_TRACES_SAMPLER", "always_off"),
            ("OTEL_SERVICE_NAME", "theirs"),
        ],
    );
    assert_eq!(export.protocol, OtlpProtocol::Http);
    assert_eq!(export.endpoint.as_str(), "http://mine:4318/base/v1/traces");
    assert_eq!(
        export.sampling,
        Sampling {
            ratio: 0.25,
            parent_based: true
        }
    );
    assert_eq!(export.service_name, "edge-gw");
}

#[test]
fn disabling_variables_turn_it_off_unless_the_file_says_enabled() {
    let config = section("otlp_endpoint = \"http://c:4318\"");
    assert!(
        resolve(&config, &[("OTEL_SDK_DISABLED", "true")])
            .unwrap()
            .is_none()
    );
    assert!(
        resolve(&config, &[("OTEL_TRACES_EXPORTER", "none")])
            .unwrap()
            .is_none()
    );
    let forced = section("enabled = true");
    let export = on(&forced, &[("OTEL_SDK_DISABLED", "TRUE")]);
    assert_eq!(export.endpoint.as_str(), "http://localhost:4318/v1/traces");
    assert!(
        resolve(
            &section("enabled = false\notlp_endpoint = \"http://c:4318\""),
            &[]
        )
        .unwrap()
        .is_none()
    );
    let exporter = on(
        &TelemetryConfig::default(),
        &[("OTEL_TRACES_EXPORTER", "otlp")],
    );
    assert_eq!(
        exporter.endpoint.as_str(),
        "http://localhost:4318/v1/traces"
    );
}

#[test]
fn samplers_from_the_environment() {
    let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")];
    let with = |sampler: &str, arg: Option<&str>| {
        let mut vars = base.to_vec();
        vars.push(("OTEL_TRACES_SAMPLER", sampler));
        if let Some(arg) = arg {
            vars.push(("OTEL_TRACES_SAMPLER_ARG", arg));
        }
        resolve(&TelemetryConfig::default(), &vars).map(|e| e.map(|e| e.sampling))
    };
    let sampling = |ratio, parent_based| {
        Ok(Some(Sampling {
            ratio,
            parent_based,
        }))
    };
    assert_eq!(
        with("parentbased_traceidratio", Some("0.01")),
        sampling(0.01, true)
    );
    assert_eq!(with("traceidratio", None), sampling(1.0, false));
    assert_eq!(with("always_off", None), sampling(0.0, false));
    assert_eq!(with("parentbased_always_off", None), sampling(0.0, true));
    let err = with("traceidratio", Some("1.5")).unwrap_err();
    assert!(err.contains("OTEL_TRACES_SAMPLER_ARG"), "{err}");
    let err = with("jaeger_remote", None).unwrap_err();
    assert!(
        err.contains("OTEL_TRACES_SAMPLER") && err.contains("jaeger_remote"),
        "{err}"
    );
}

#[test]
fn bad_values_name_their_key_or_variable() {
    let err = resolve(&section("sampling_ratio = 2.0\nenabled = true"), &[]).unwrap_err();
    assert!(err.contains("telemetry.sampling_ratio"), "{err}");
    let err = resolve(&section("otlp_endpoint = \"ftp://c\""), &[]).unwrap_err();
    assert!(err.contains("telemetry.otlp_endpoint"), "{err}");
    let err = resolve(
        &TelemetryConfig::default(),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")],
    )
    .unwrap_err();
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_ENDPOINT (environment)"),
        "{err}"
    );
    let err = resolve(
        &section("enabled = true"),
        &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
    )
    .unwrap_err();
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && err.contains("http/json"),
        "{err}"
    );
    let err = resolve(
        &section("enabled = true\nheaders = { \"bad name\" = \"x\" }"),
        &[],
    )
    .unwrap_err();
    assert!(err.contains("telemetry.headers.bad name"), "{err}");
    let err = resolve(
        &section("enabled = true\nheaders = { x-key = \"env::OMNIGATE_SURELY_UNSET_OTLP_KEY\" }"),
        &[],
    )
    .unwrap_err();
    assert!(
        err.contains("telemetry.headers.x-key") && err.contains("OMNIGATE_SURELY_UNSET_OTLP_KEY"),
        "{err}"
    );
}

#[test]
fn headers_are_resolved_and_the_service_name_falls_back_to_resource_attributes() {
    let export = on(
        &section("enabled = true\nheaders = { X-Team = \"research\" }"),
        &[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod, service.name=from-attrs",
        )],
    );
    assert_eq!(export.headers.len(), 1);
    assert_eq!(export.headers[0].0, "x-team");
    assert_eq!(export.headers[0].1.expose(), "research");
    assert_eq!(export.service_name, "from-attrs");
    let named = on(
        &section("enabled = true"),
        &[
            ("OTEL_SERVICE_NAME", "from-name"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
        ],
    );
    assert_eq!(named.service_name, "from-name");
}
