//! `strata tag` and `strata models` end to end, and the message when ONNX Runtime is missing.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking, helpers included")]

mod support;

use support::*;

#[test]
fn tag_prints_tags_and_skips_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.wav");
    write_wav(&good, &tone(196.0, 22_050, 7.0), 1, 22_050);
    let short = tmp.path().join("short.wav");
    write_wav(&short, &tone(196.0, 22_050, 0.1), 1, 22_050);
    let bad = tmp.path().join("bad.ogg");
    std::fs::write(&bad, "not audio").unwrap();
    let output = strata_bin().arg("tag").args([&good, &short, &bad]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with(&good.display().to_string()) && lines[0].matches('(').count() == 5, "{}", lines[0]);
    assert!(lines[1].contains("too short"), "{}", lines[1]);
    assert!(lines[2].contains("skipped"), "{}", lines[2]);

    let json = strata_bin().args(["tag", "--json"]).arg(&good).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["layers"]["penultimate"].as_array().unwrap().len(), 200);
    assert_eq!(report["windows"], 2);

    // Nothing processable: non-zero exit.
    let failed = strata_bin().arg("tag").arg(&bad).output().unwrap();
    assert!(!failed.status.success());
}

#[test]
fn missing_onnx_runtime_says_what_to_run() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.wav");
    write_wav(&good, &tone(196.0, 16_000, 4.0), 1, 16_000);
    let output = strata_bin().env("ORT_DYLIB_PATH", tmp.path().join("nowhere/libonnxruntime.so")).arg("tag").arg(&good).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ONNX Runtime library not found") && stderr.contains("make onnxruntime"), "{stderr}");

    // `models` still lists the models and says the runtime is missing.
    let output = strata_bin().env("ORT_DYLIB_PATH", tmp.path().join("nowhere/libonnxruntime.so")).arg("models").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(stdout.contains("not available") && stdout.contains("musicnn"), "{stdout}");
}

/// `strata models --json --provider <provider>`: the document and what was logged.
fn models_json(provider: &str) -> (serde_json::Value, String) {
    let output = strata_bin().env("RUST_LOG", "off,strata=info").args(["models", "--json", "--provider", provider]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (serde_json::from_slice(&output.stdout).unwrap(), stderr)
}

fn musicnn_provider(doc: &serde_json::Value) -> &str {
    let musicnn = doc["models"].as_array().unwrap().iter().find(|m| m["name"] == "musicnn").expect("musicnn listed");
    assert_eq!(musicnn["layers"].as_array().unwrap().len(), 9);
    musicnn["provider"].as_str().unwrap_or_else(|| panic!("no provider: {musicnn}"))
}

#[test]
fn models_lists_layers_and_provider() {
    // Asked for the CPU, every machine gives the CPU.
    let (cpu, _) = models_json("cpu");
    assert_eq!(musicnn_provider(&cpu), "CPU");
    let providers = cpu["runtime"]["providers"].as_array().unwrap();
    assert!(providers.iter().any(|p| p == "CPUExecutionProvider"), "{providers:?}");
    // Auto takes CUDA where the runtime offers it, or says why it fell back to the CPU; without CUDA, the CPU.
    let (auto, log) = models_json("auto");
    let chosen = musicnn_provider(&auto);
    if providers.iter().any(|p| p == "CUDAExecutionProvider") {
        assert!(chosen == "CUDA" || (chosen == "CPU" && log.contains("CUDA unavailable")), "{chosen}: {log}");
    } else {
        assert_eq!(chosen, "CPU");
    }
}
