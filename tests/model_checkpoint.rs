//! Reading MERT checkpoints for `strata models install`: the real bytes torch.save and
//! safetensors write (tests/fixtures/checkpoint, made by models/make_checkpoint_fixture.py),
//! files written here with the safetensors crate, config.json and tensor checks, and hostile
//! input — truncated files, lying headers, compressed zips, pickles that ask for code — each an
//! error that says why, never a panic.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, tensor::TensorView};
use strata::model::install::checkpoint::pickle::read_state_dict;
use strata::model::install::checkpoint::{Checkpoint, CheckpointError, CheckpointFormat, DType};
use strata::model::install::config::{
    ArchConfig, ExpectedTensor, check_config, check_tensors, infer_from_tensors, parse_config, read_config,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoint").join(name)
}

fn err_text(result: Result<Checkpoint, CheckpointError>) -> String {
    match result {
        Ok(ckpt) => panic!("expected an error, read {:?}", ckpt.names()),
        Err(e) => e.to_string(),
    }
}

/// The tensors both fixture files hold, as make_checkpoint_fixture.py wrote them.
fn check_common_tensors(ckpt: &Checkpoint) {
    assert_eq!(ckpt.read_f32("encoder.weight").unwrap(), [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
    assert_eq!(ckpt.info("encoder.weight").unwrap().shape, [2, 3]);
    assert_eq!(ckpt.info("encoder.weight").unwrap().dtype, DType::F32);
    assert_eq!(ckpt.info("encoder.half").unwrap().dtype, DType::F16);
    assert_eq!(ckpt.read_f32("encoder.half").unwrap(), [1.0, -2.0, 0.25]);
    assert_eq!(ckpt.info("encoder.brain").unwrap().dtype, DType::BF16);
    assert_eq!(ckpt.info("encoder.brain").unwrap().shape, [2, 2]);
    assert_eq!(ckpt.read_f32("encoder.brain").unwrap(), [1.5, -3.0, 0.125, 8.0]);
    assert_eq!(ckpt.info("encoder.double").unwrap().dtype, DType::F64);
    assert_eq!(ckpt.read_f32("encoder.double").unwrap(), [0.5, -1024.0]);
    assert_eq!(ckpt.info("encoder.scalar").unwrap().shape, Vec::<usize>::new());
    assert_eq!(ckpt.read_f32("encoder.scalar").unwrap(), [2.5]);
    // Wrapper prefix stripped and the parametrisation named as the graphs name it.
    assert_eq!(ckpt.info("encoder.pos_conv_embed.conv.weight_g").unwrap().shape, [1, 1, 2]);
    assert_eq!(ckpt.read_f32("encoder.pos_conv_embed.conv.weight_g").unwrap(), [3.0, 4.0]);
    assert_eq!(ckpt.info("encoder.count").unwrap().dtype, DType::I64);
    let not_float = ckpt.read_f32("encoder.count").unwrap_err().to_string();
    assert!(not_float.contains("encoder.count") && not_float.contains("not a float"), "{not_float}");
    assert!(matches!(ckpt.read_f32("encoder.nothing"), Err(CheckpointError::NoTensor(_))));
}

#[test]
fn torch_save_zip_reads_as_torch_wrote_it() {
    let ckpt = Checkpoint::open(&fixture("state_dict.bin")).unwrap();
    assert_eq!(ckpt.format(), CheckpointFormat::PytorchZip);
    assert_eq!(
        ckpt.names(),
        [
            "encoder.brain",
            "encoder.count",
            "encoder.double",
            "encoder.half",
            "encoder.pos_conv_embed.conv.weight_g",
            "encoder.scalar",
            "encoder.tail",
            "encoder.tied",
            "encoder.weight"
        ]
    );
    check_common_tensors(&ckpt);
    // One storage behind the weight, its tied copy and a view three elements in.
    assert_eq!(ckpt.read_f32("encoder.tied").unwrap(), ckpt.read_f32("encoder.weight").unwrap());
    assert_eq!(ckpt.info("encoder.tail").unwrap().shape, [3]);
    assert_eq!(ckpt.read_f32("encoder.tail").unwrap(), [1.5, 2.0, 2.5]);
    assert_eq!(ckpt.config_path(), None, "no config.json beside the fixtures");
}

#[test]
fn safetensors_from_python_reads_the_same_tensors() {
    let ckpt = Checkpoint::open(&fixture("model.safetensors")).unwrap();
    assert_eq!(ckpt.format(), CheckpointFormat::Safetensors);
    assert_eq!(ckpt.names().len(), 7);
    check_common_tensors(&ckpt);
}

#[test]
fn non_contiguous_and_legacy_torch_files_are_refused_with_a_way_out() {
    let transposed = err_text(Checkpoint::open(&fixture("transposed.bin")));
    assert!(transposed.contains("contiguous") && transposed.contains("[3, 2]"), "{transposed}");
    let legacy = err_text(Checkpoint::open(&fixture("legacy.bin")));
    assert!(legacy.contains("legacy") && legacy.contains("torch>=1.6"), "{legacy}");
}

/// A safetensors file of f32 tensors, written by the safetensors crate.
fn write_safetensors(path: &Path, tensors: &[(&str, Vec<usize>)]) {
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, shape)| (0..shape.iter().product::<usize>()).flat_map(|i| (i as f32 * 0.25).to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&data)
        .map(|((name, shape), bytes)| (name.to_string(), TensorView::new(Dtype::F32, shape.clone(), bytes).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

#[test]
fn a_folder_prefers_safetensors_and_finds_config_json() {
    let dir = tempfile::tempdir().unwrap();
    write_safetensors(&dir.path().join("model.safetensors"), &[("encoder.a", vec![2, 2]), ("hubert.encoder.b", vec![3])]);
    std::fs::copy(fixture("state_dict.bin"), dir.path().join("pytorch_model.bin")).unwrap();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    let ckpt = Checkpoint::open(dir.path()).unwrap();
    assert_eq!(ckpt.format(), CheckpointFormat::Safetensors);
    assert_eq!(ckpt.names(), ["encoder.a", "encoder.b"]);
    assert_eq!(ckpt.read_f32("encoder.b").unwrap(), [0.0, 0.25, 0.5]);
    assert_eq!(ckpt.config_path(), Some(dir.path().join("config.json").as_path()));

    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    assert_eq!(Checkpoint::open(dir.path()).unwrap().format(), CheckpointFormat::PytorchZip);
    std::fs::remove_file(dir.path().join("pytorch_model.bin")).unwrap();
    let none = err_text(Checkpoint::open(dir.path()));
    assert!(none.contains("no model.safetensors or pytorch_model.bin"), "{none}");
}

#[test]
fn two_names_for_one_encoder_tensor_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    write_safetensors(&path, &[("encoder.a", vec![1]), ("model.encoder.a", vec![1])]);
    let text = err_text(Checkpoint::open(&path));
    assert!(text.contains("both name") && text.contains("encoder.a"), "{text}");
}

/// A safetensors file with this JSON header and `data_len` bytes of data.
fn raw_safetensors(header: &str, data_len: usize) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.resize(bytes.len() + data_len, 0);
    bytes
}

#[test]
fn hostile_safetensors_are_errors() {
    let good = std::fs::read(fixture("model.safetensors")).unwrap();
    // Every truncation, and every byte of the length and header replaced, fails cleanly or reads a valid file.
    for len in 0..good.len() {
        assert!(Checkpoint::from_bytes(good[..len].to_vec()).is_err(), "truncated to {len} bytes");
    }
    for at in 0..good.len().min(400) {
        let mut bytes = good.clone();
        bytes[at] ^= 0x5a;
        if let Ok(ckpt) = Checkpoint::from_bytes(bytes) {
            for name in ckpt.names() {
                let _ = ckpt.read_f32(name);
            }
        }
    }
    let cases = [
        // The length says more header than the file has.
        ([&u64::MAX.to_le_bytes()[..], b"{}"].concat(), "header too large"),
        ([&1000u64.to_le_bytes()[..], b"{}"].concat(), "invalid header length"),
        (raw_safetensors(r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, 8), "incomplete"),
        (raw_safetensors(r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, 16), "invalid shape"),
        (raw_safetensors(r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}}"#, 16), "overflow"),
        (raw_safetensors(r#"{"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#, 4), "F8_E4M3"),
        (raw_safetensors("not json", 0), "safetensors"),
    ];
    for (bytes, expected) in cases {
        let text = err_text(Checkpoint::from_bytes(bytes));
        assert!(text.to_lowercase().contains(&expected.to_lowercase()), "{expected:?} not in {text:?}");
    }
}

/// A zip laid out as torch.save lays it out (stored entries under `archive/`).
fn torch_zip(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        writer.start_file(format!("archive/{name}"), options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// Pickle opcodes for a small state dict, in the shape torch.save writes it.
struct Pickle(Vec<u8>);

impl Pickle {
    fn new() -> Self {
        Pickle(vec![0x80, 2])
    }
    fn op(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn global(self, module: &str, name: &str) -> Self {
        self.op(format!("c{module}\n{name}\n").as_bytes())
    }
    fn string(self, s: &str) -> Self {
        let mut op = vec![b'X'];
        op.extend_from_slice(&(s.len() as u32).to_le_bytes());
        op.extend_from_slice(s.as_bytes());
        self.op(&op)
    }
    fn int(self, n: u8) -> Self {
        self.op(&[b'K', n])
    }
    /// `_rebuild_tensor_v2(FloatStorage key of `elements`, offset, shape, contiguous stride, False, OrderedDict())`.
    fn tensor(self, key: &str, elements: u8, offset: u8, shape: &[u8]) -> Self {
        let mut p = self.global("torch._utils", "_rebuild_tensor_v2").op(b"((").string("storage").global("torch", "FloatStorage");
        p = p.string(key).string("cpu").int(elements).op(b"tQ").int(offset).op(b"(");
        for &d in shape {
            p = p.int(d);
        }
        p = p.op(b"t(");
        let mut stride = 1u8;
        let mut strides = Vec::new();
        for &d in shape.iter().rev() {
            strides.push(stride);
            stride *= d;
        }
        for &s in strides.iter().rev() {
            p = p.int(s);
        }
        p.op(b"t\x89").global("collections", "OrderedDict").op(b")R").op(b"tR")
    }
    fn finish(self) -> Vec<u8> {
        self.op(b".").0
    }
}

fn one_tensor_pickle(elements: u8, offset: u8, shape: &[u8]) -> Vec<u8> {
    Pickle::new().op(b"}(").string("w").tensor("0", elements, offset, shape).op(b"u").finish()
}

#[test]
fn a_hand_written_state_dict_reads() {
    let pickle = one_tensor_pickle(6, 2, &[2, 2]);
    let data: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let bytes = torch_zip(
        &[("data.pkl", &pickle), ("data/0", &data), ("byteorder", b"little"), ("version", b"3\n")],
        zip::CompressionMethod::Stored,
    );
    let ckpt = Checkpoint::from_bytes(bytes).unwrap();
    assert_eq!(ckpt.read_f32("w").unwrap(), [2.0, 3.0, 4.0, 5.0]);
}

#[test]
fn hostile_torch_zips_are_errors() {
    let data: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let good = one_tensor_pickle(6, 0, &[2, 3]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // A tensor past its storage, and a storage entry shorter than its element count.
        (
            torch_zip(&[("data.pkl", &one_tensor_pickle(6, 1, &[2, 3])), ("data/0", &data)], zip::CompressionMethod::Stored),
            "runs past its storage",
        ),
        (torch_zip(&[("data.pkl", &good), ("data/0", &data[..20])], zip::CompressionMethod::Stored), "has 20 bytes"),
        (torch_zip(&[("data.pkl", &good)], zip::CompressionMethod::Stored), "not in the zip"),
        (torch_zip(&[("data/0", &data)], zip::CompressionMethod::Stored), "data.pkl"),
        (torch_zip(&[("data.pkl", &good), ("data/0", &data), ("byteorder", b"big")], zip::CompressionMethod::Stored), "little-endian"),
    ];
    for (bytes, expected) in cases {
        let text = err_text(Checkpoint::from_bytes(bytes));
        assert!(text.contains(expected), "{expected:?} not in {text:?}");
    }
}

#[test]
fn compressed_zip_entries_are_refused_unread() {
    // A zip bomb's entry is compressed; torch.save never compresses, so nothing is inflated.
    let zeros = vec![0u8; 1 << 20];
    let pickle = one_tensor_pickle(6, 0, &[2, 3]);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    writer.start_file("archive/data.pkl", stored).unwrap();
    writer.write_all(&pickle).unwrap();
    // The zip crate without its codecs cannot write a deflated entry, so the header is edited to say so.
    writer.start_file("archive/data/0", stored).unwrap();
    writer.write_all(&zeros).unwrap();
    let mut bytes = writer.finish().unwrap().into_inner();
    let central = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
    bytes[central + 10] = 8; // compression method: deflate
    let text = err_text(Checkpoint::from_bytes(bytes));
    assert!(text.contains("compressed"), "{text}");
}

#[test]
fn every_truncation_and_byte_flip_of_a_real_torch_file_is_handled() {
    let good = std::fs::read(fixture("state_dict.bin")).unwrap();
    for len in 0..good.len() {
        assert!(Checkpoint::from_bytes(good[..len].to_vec()).is_err(), "truncated to {len} bytes");
    }
    for at in 0..good.len() {
        let mut bytes = good.clone();
        bytes[at] ^= 0xa5;
        if let Ok(ckpt) = Checkpoint::from_bytes(bytes) {
            for name in ckpt.names() {
                let _ = ckpt.read_f32(name);
            }
        }
    }
}

fn pickle_err(pickle: &[u8]) -> String {
    match read_state_dict(pickle) {
        Ok(tensors) => panic!("expected an error, read {tensors:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn pickles_that_ask_for_code_are_refused_by_name() {
    let system = Pickle::new().global("os", "system").string("echo hi").op(b"\x85R").finish();
    let text = pickle_err(&system);
    assert!(text.contains("global os.system") && text.contains("not loaded"), "{text}");
    let builtins = Pickle::new().op(b"\x8c\x08builtins\x8c\x04eval\x93").finish();
    assert!(pickle_err(&builtins).contains("global builtins.eval"));
    // INST, OBJ, NEWOBJ, a list, a float: never in a state dict.
    for (op, name) in [(&b"i"[..], "INST"), (b"o", "OBJ"), (b"\x81", "NEWOBJ"), (b"]", "EMPTY_LIST"), (b"G", "BINFLOAT")] {
        let text = pickle_err(&Pickle::new().op(op).finish());
        assert!(text.contains(name) && text.contains("at byte 2"), "{name}: {text}");
    }
    // A whitelisted class called with the wrong arguments, and a storage type called as a function.
    let storage_call = Pickle::new().global("torch", "FloatStorage").op(b")R").finish();
    assert!(pickle_err(&storage_call).contains("calling a class"));
    let hooks = Pickle::new()
        .op(b"}(")
        .string("w")
        .global("torch._utils", "_rebuild_tensor_v2")
        .op(b"((")
        .string("storage")
        .global("torch", "FloatStorage")
        .string("0")
        .string("cpu")
        .int(1)
        .op(b"tQ")
        .int(0)
        .op(b")")
        .op(b")")
        .op(b"\x89}")
        .string("hook")
        .int(1)
        .op(b"stRu")
        .finish();
    assert!(pickle_err(&hooks).contains("backward hooks"));
}

#[test]
fn malformed_pickles_are_errors_not_panics() {
    let deep = Pickle::new().op(&[b'('; 100]).op(&[b't'; 100]).finish();
    assert!(pickle_err(&deep).contains("nested"));
    let deep_tuple1 = Pickle::new().op(b")").op(&[0x85; 100]).finish();
    assert!(pickle_err(&deep_tuple1).contains("nested"));
    // A shape whose product overflows, and a negative offset.
    let mut huge = Pickle::new().op(b"}(").string("w").global("torch._utils", "_rebuild_tensor_v2").op(b"((").string("storage");
    huge = huge.global("torch", "FloatStorage").string("0").string("cpu").int(1).op(b"tQ").int(0);
    let big = b"\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x3f";
    let huge = huge.op(b"(").op(big).op(big).op(b"t(").op(big).op(b"K\x01t\x89}tRu").finish();
    assert!(pickle_err(&huge).contains("overflows"), "{}", pickle_err(&huge));
    let negative = Pickle::new().op(b"}(").string("w").tensor("0", 6, 0, &[6]).op(b"u").finish();
    let negative: Vec<u8> = {
        let at = negative.windows(3).position(|w| w == b"tQK").unwrap() + 2;
        let mut bytes = negative[..at].to_vec();
        bytes.extend_from_slice(b"J\xff\xff\xff\xff");
        bytes.extend_from_slice(&negative[at + 2..]);
        bytes
    };
    assert!(pickle_err(&negative).contains("storage offset is -1"), "{}", pickle_err(&negative));
    // The memo: read before written, and an index far past anything written (a map, not a vector).
    assert!(pickle_err(&Pickle::new().op(b"j\xff\xff\xff\xff").finish()).contains("memo"));
    let far = Pickle::new().op(b"}r\xff\xff\xff\xffj\xff\xff\xff\xff").finish();
    assert!(pickle_err(&far).contains("values left on the stack"));
    // A dict changed after it went into another value (the only way to make a cycle).
    let cycle = Pickle::new().op(b"}q\x00}q\x01h\x00h\x01sh\x01h\x00s").finish();
    assert!(pickle_err(&cycle).contains("changed after"), "{}", pickle_err(&cycle));
    for (pickle, expected) in [
        (Pickle::new().op(b"X\xff\xff\xff\x7f").finish(), "truncated"),
        (Pickle::new().finish(), "nothing before STOP"),
        (Pickle::new().op(b"N").finish(), "None, not a state dict"),
        (Pickle::new().op(b"}").finish().into_iter().chain([b'N']).collect(), "bytes after STOP"),
        (Pickle::new().op(b"}(NNu").finish(), "key is None"),
        (Pickle::new().op(b"}(").string("w").op(b"Nu").finish(), "\"w\" is None, not a tensor"),
        (Pickle::new().op(b"(t").op(b"R").finish(), "underflow"),
        (vec![0x80, 9, b'.'], "protocol 9"),
        (Vec::new(), "truncated"),
    ] {
        let text = pickle_err(&pickle);
        assert!(text.contains(expected), "{expected:?} not in {text:?}");
    }
}

#[test]
fn every_byte_flip_of_a_real_pickle_is_handled() {
    let zip_bytes = std::fs::read(fixture("state_dict.bin")).unwrap();
    let mut archive = zip::ZipArchive::new(Cursor::new(&zip_bytes)).unwrap();
    let mut pickle = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name("state_dict/data.pkl").unwrap(), &mut pickle).unwrap();
    assert_eq!(read_state_dict(&pickle).unwrap().len(), 9);
    for at in 0..pickle.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut bytes = pickle.clone();
            bytes[at] ^= flip;
            let _ = read_state_dict(&bytes);
        }
        let _ = read_state_dict(&pickle[..at]);
    }
}

const TINY_CONFIG: &str = r#"{
  "architectures": ["MERTModel"], "model_type": "mert_model", "attention_relax": -1.0,
  "conv_bias": false, "conv_dim": [32, 32, 32, 32, 32, 32, 32],
  "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_stride": [5, 2, 2, 2, 2, 2, 2],
  "deepnorm": false, "do_stable_layer_norm": false, "feat_extract_activation": "gelu",
  "feat_extract_norm": "group", "feat_proj_layer_norm": true, "feature_extractor_cqt": false,
  "hidden_act": "gelu", "hidden_size": 32, "intermediate_size": 64, "layer_norm_eps": 1e-05,
  "num_attention_heads": 2, "num_conv_pos_embedding_groups": 2, "num_conv_pos_embeddings": 16,
  "num_feat_extract_layers": 7, "num_hidden_layers": 2, "sample_rate": 24000
}"#;

fn tiny() -> ArchConfig {
    ArchConfig {
        hidden_size: 32,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 64,
        num_conv_pos_embeddings: 16,
        num_conv_pos_embedding_groups: 2,
        do_stable_layer_norm: false,
        feat_extract_norm: "group".into(),
        conv_bias: false,
        layer_norm_eps: 1e-5,
    }
}

#[test]
fn config_json_reads_and_refuses_what_the_graphs_do_not_implement() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, TINY_CONFIG).unwrap();
    assert_eq!(read_config(&path).unwrap(), tiny());
    check_config(&read_config(&path).unwrap(), &tiny()).unwrap();

    let with = |key: &str, value: &str| {
        let mut json: serde_json::Value = serde_json::from_str(TINY_CONFIG).unwrap();
        json[key] = serde_json::from_str(value).unwrap();
        parse_config(&json)
    };
    for (key, value, expected) in [
        ("feature_extractor_cqt", "true", "CQT"),
        ("deepnorm", "true", "deepnorm"),
        ("conv_kernel", "[10, 3, 3, 3, 3, 3, 2]", "conv_kernel"),
        ("conv_stride", "[5, 2, 2]", "conv_stride"),
        ("conv_dim", "[512, 512, 512, 512, 512, 512]", "7 convolutions"),
        ("num_feat_extract_layers", "6", "num_feat_extract_layers"),
        ("hidden_act", "\"relu\"", "GELU"),
        ("feat_extract_norm", "\"batch\"", "feat_extract_norm"),
        ("feat_proj_layer_norm", "false", "feat_proj_layer_norm"),
        ("sample_rate", "16000", "24 kHz"),
        ("hidden_size", "-1", "positive integer"),
        ("hidden_size", "null", "positive integer"),
    ] {
        let text = with(key, value).unwrap_err();
        assert!(text.contains(expected), "{key}={value}: {expected:?} not in {text:?}");
    }
    // attention_relax only matters to the deepnorm encoder.
    assert_eq!(with("attention_relax", "32").unwrap(), tiny());
    assert!(read_config(&dir.path().join("missing.json")).unwrap_err().contains("missing.json"));
    std::fs::write(&path, "{").unwrap();
    assert!(read_config(&path).unwrap_err().contains("not valid JSON"));
}

#[test]
fn check_config_names_every_differing_field() {
    let found =
        ArchConfig { hidden_size: 1024, num_hidden_layers: 24, do_stable_layer_norm: true, layer_norm_eps: 1e-5 * (1.0 + 1e-9), ..tiny() };
    let text = check_config(&found, &tiny()).unwrap_err();
    for field in ["hidden_size: checkpoint 1024, expected 32", "num_hidden_layers: checkpoint 24, expected 2", "do_stable_layer_norm"] {
        assert!(text.contains(field), "{field:?} not in {text:?}");
    }
    assert!(!text.contains("layer_norm_eps") && !text.contains("num_attention_heads"), "{text}");
    let eps = ArchConfig { layer_norm_eps: 1e-12, ..tiny() };
    assert!(check_config(&eps, &tiny()).unwrap_err().contains("layer_norm_eps"));
}

#[test]
fn the_tensors_decide_the_feature_extractors_norm_and_bias() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    write_safetensors(
        &path,
        &[("feature_extractor.conv_layers.0.conv.bias", vec![4]), ("feature_extractor.conv_layers.1.layer_norm.weight", vec![4])],
    );
    let inferred = infer_from_tensors(&tiny(), &Checkpoint::open(&path).unwrap());
    assert_eq!(inferred, ArchConfig { feat_extract_norm: "layer".into(), conv_bias: true, ..tiny() });
    write_safetensors(&path, &[("feature_extractor.conv_layers.0.layer_norm.weight", vec![4])]);
    assert_eq!(infer_from_tensors(&ArchConfig { conv_bias: true, ..tiny() }, &Checkpoint::open(&path).unwrap()), tiny());
}

#[test]
fn check_tensors_lists_what_is_missing_mis_shaped_and_unexplained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut tensors: Vec<(String, Vec<usize>)> = (0..8).map(|i| (format!("encoder.layers.{i}.w"), vec![2, 2])).collect();
    tensors.push(("masked_spec_embed".into(), vec![4]));
    tensors.push(("label_embs_concat".into(), vec![4, 2]));
    let named: Vec<(&str, Vec<usize>)> = tensors.iter().map(|(n, s)| (n.as_str(), s.clone())).collect();
    write_safetensors(&path, &named);
    let ckpt = Checkpoint::open(&path).unwrap();
    let expected: Vec<ExpectedTensor> =
        tensors[..8].iter().map(|(name, shape)| ExpectedTensor { name: name.clone(), shape: shape.clone() }).collect();
    let ignored = vec!["masked_spec_embed".to_string(), "label_embs".to_string()];
    check_tensors(&ckpt, &expected, &ignored).unwrap();

    let text = check_tensors(&ckpt, &expected, &[]).unwrap_err();
    assert!(text.contains("2 unexplained: label_embs_concat, masked_spec_embed"), "{text}");
    let mut wrong = expected.clone();
    wrong[0].shape = vec![4];
    wrong.extend((0..7).map(|i| ExpectedTensor { name: format!("encoder.extra.{i}"), shape: vec![1] }));
    let text = check_tensors(&ckpt, &wrong[1..], &ignored).unwrap_err();
    assert!(
        text.contains("7 missing: encoder.extra.0, encoder.extra.1, encoder.extra.2, encoder.extra.3, encoder.extra.4 and 2 more"),
        "{text}"
    );
    assert!(text.contains("1 unexplained: encoder.layers.0.w"), "{text}");
    let text = check_tensors(&ckpt, &wrong[..8], &ignored).unwrap_err();
    assert!(text.contains("1 mis-shaped: encoder.layers.0.w [2, 2] (expected [4])"), "{text}");

    let torch = Checkpoint::open(&fixture("state_dict.bin")).unwrap();
    let count = [ExpectedTensor { name: "encoder.count".into(), shape: vec![] }];
    let text = check_tensors(&torch, &count, &["encoder.".to_string()]).unwrap_err();
    assert!(text.contains("1 not float: encoder.count I64"), "{text}");
}

#[test]
fn the_tiny_mert_checkpoint_reads_the_same_in_both_formats_and_passes_the_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mert-tiny-checkpoint");
    let safetensors = Checkpoint::open(&dir).unwrap();
    let torch = Checkpoint::open(&dir.join("pytorch_model.bin")).unwrap();
    assert_eq!((safetensors.format(), torch.format()), (CheckpointFormat::Safetensors, CheckpointFormat::PytorchZip));
    assert_eq!(safetensors.names(), torch.names());
    for name in safetensors.names() {
        assert_eq!(safetensors.info(name), torch.info(name), "{name}");
        assert_eq!(safetensors.read_f32(name).unwrap(), torch.read_f32(name).unwrap(), "{name}");
    }

    let arch = strata::model::install::convert::architecture("mert-tiny").unwrap();
    let config = read_config(safetensors.config_path().unwrap()).unwrap();
    for ckpt in [&safetensors, &torch] {
        check_config(&infer_from_tensors(&config, ckpt), arch.config()).unwrap();
        check_tensors(ckpt, &arch.expected_tensors(), arch.ignored_prefixes()).unwrap();
    }
    // The same checkpoint against MERT-v1-95M: every differing hyper-parameter and the tensors named.
    let big = strata::model::install::convert::architecture("mert-v1-95m").unwrap();
    let text = check_config(&config, big.config()).unwrap_err();
    assert!(
        text.contains("hidden_size: checkpoint 32, expected 768") && text.contains("num_hidden_layers: checkpoint 2, expected 12"),
        "{text}"
    );
    let text = check_tensors(&torch, &big.expected_tensors(), big.ignored_prefixes()).unwrap_err();
    assert!(text.contains("missing: encoder.layers.10.") && text.contains("mis-shaped: "), "{text}");
}
