#!/usr/bin/env python3
"""Convert musicnn's MSD_musicnn TensorFlow checkpoint into models/musicnn/model.onnx.

The trained weights come from the PyPI wheel ``musicnn==0.1.0`` (ISC licence,
(c) 2019 Music Technology Group, Universitat Pompeu Fabra), which ships the
TensorFlow 1.x checkpoints inside the package.

How to run (from the repository root; the venv lives outside the repo):

    python3 -m venv /tmp/musicnn-venv
    /tmp/musicnn-venv/bin/pip install -r models/requirements-musicnn.txt
    /tmp/musicnn-venv/bin/pip install --no-deps musicnn==0.1.0
    /tmp/musicnn-venv/bin/python models/convert_musicnn.py          # writes models/musicnn/model.onnx
    /tmp/musicnn-venv/bin/python models/validate_musicnn.py         # checks it, rewrites tests/golden/

(``musicnn`` must be installed with ``--no-deps``: it pins numpy<1.17.)
The script sets TF_USE_LEGACY_KERAS=1 itself (``tf.compat.v1.layers`` needs
``tf_keras`` under TensorFlow 2.16+).  The output is byte-for-byte
reproducible: running it again gives the same file.

What the ONNX graph does
------------------------
Input ``waveform``: float32 ``[batch, samples]``, raw mono audio at 16 kHz in
[-1, 1] (no normalisation).  Inside the graph:

1. log-mel front-end identical to ``musicnn.extractor.batch_data``:
   centre padding of n_fft/2 = 256 samples on both sides in ``reflect`` mode
   (librosa < 0.10 default, what musicnn was trained and published with),
   ``STFT`` (n_fft 512, hop 256, periodic Hann window), power spectrum,
   ``librosa.filters.mel(sr=16000, n_fft=512, n_mels=96)`` (Slaney), rounding
   to float16 and back (musicnn does ``astype(np.float16)``), then
   ``log10(10000 * x + 1)`` in float32.  Up to the mel projection the
   spectrogram is computed in float64, which keeps it within float32
   rounding of librosa's so that the float16 step rounds the same way;
2. non-overlapping 187-frame patches, exactly
   ``range(0, n_frames - 187 + 1, 187)``, i.e. ``patches = n_frames // 187``
   with ``n_frames = 1 + samples // 256``;
3. the MSD_musicnn network on every patch.

Outputs, all float32 ``[batch, patches, dim]`` (``patches`` may be 0 for
inputs shorter than 47616 samples):

    taggram 50, penultimate 200, mean_pool 753, max_pool 753,
    timbral 408, temporal 153, cnn1 64, cnn2 64, cnn3 64

``timbral``, ``temporal`` and ``cnn1..3`` are per-frame in musicnn; here they
are averaged over the 187 frames of each patch (ReduceMean inside the graph).
"""

import os
import sys
import warnings

if __name__ == "__main__" and os.environ.get("PYTHONHASHSEED") != "0":
    # tf2onnx's graph optimiser iterates over Python sets, so which rewrites
    # apply (and the node order) depends on string hashing.  Pin the hash
    # seed so that the output file is reproducible byte for byte.
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import hashlib  # noqa: E402

warnings.filterwarnings("ignore", category=UserWarning)  # tf.compat.v1.layers deprecations

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "musicnn", "model.onnx")

MODEL = "MSD_musicnn"
N_CLASSES = 50
SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
N_FRAMES = 187  # frames per patch (musicnn: time_to_frames(3 s) + 1)
MIN_SAMPLES = (N_FRAMES - 1) * HOP  # 47616: shortest input giving one patch
OPSET = 17

# (name, dim, per_frame) in the order the outputs appear in the ONNX graph.
OUTPUTS = [
    ("taggram", 50, False),
    ("penultimate", 200, False),
    ("mean_pool", 753, False),
    ("max_pool", 753, False),
    ("timbral", 408, True),
    ("temporal", 153, True),
    ("cnn1", 64, True),
    ("cnn2", 64, True),
    ("cnn3", 64, True),
]


def checkpoint_dir():
    import musicnn

    # The checkpoint files are named ".index", ".data-00000-of-00001", ... so
    # the checkpoint prefix is the directory path with a trailing slash.  The
    # shipped "checkpoint" file points to the author's home directory and is
    # not used.
    return os.path.join(os.path.dirname(musicnn.__file__), MODEL) + "/"


def build_frozen_graph():
    """Rebuild MSD_musicnn in TF1 graph mode, restore it, freeze it.

    Returns (graph_def, input_name, {output: tensor_name}).
    """
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    from musicnn import models

    graph = tf.Graph()
    with graph.as_default():
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, N_MELS], name="patches")
            (y, timbral, temporal, cnn1, cnn2, cnn3, mean_pool, max_pool,
             penultimate) = models.define_model(x, False, MODEL, N_CLASSES)
            taggram = tf.nn.sigmoid(y)
        tensors = {
            "taggram": taggram,
            "penultimate": penultimate,
            "mean_pool": mean_pool,
            "max_pool": max_pool,
            # per-frame [N, 187, d] (cnn*: [N, 187, 64, 1]) -> mean over frames
            "timbral": tf.reduce_mean(timbral, axis=1),
            "temporal": tf.reduce_mean(temporal, axis=1),
            "cnn1": tf.reduce_mean(tf.squeeze(cnn1, [3]), axis=1),
            "cnn2": tf.reduce_mean(tf.squeeze(cnn2, [3]), axis=1),
            "cnn3": tf.reduce_mean(tf.squeeze(cnn3, [3]), axis=1),
        }
        names = {}
        for name, dim, _ in OUTPUTS:
            t = tf.identity(tensors[name], name="out_" + name)
            assert t.shape.as_list() == [None, dim], (name, t.shape)
            names[name] = t.name

        with tf.compat.v1.Session(graph=graph) as sess:
            saver = tf.compat.v1.train.Saver()
            saver.restore(sess, checkpoint_dir())
            frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                sess, graph.as_graph_def(), ["out_" + n for n, _, _ in OUTPUTS])
    return frozen, x.name, names


def _make_tf2onnx_deterministic():
    """tf2onnx keeps its graph nodes in Python sets; Node has identity-based
    hashing, so set iteration order (and hence which rewrites its optimisers
    apply first) varies from run to run.  Hash nodes by creation order."""
    import itertools

    from tf2onnx.graph import Node

    if getattr(Node, "_strata_seq_hash", False):
        return
    counter = itertools.count()
    orig_init = Node.__init__

    def __init__(self, *args, **kwargs):
        self._strata_seq = next(counter)
        orig_init(self, *args, **kwargs)

    Node.__init__ = __init__
    Node.__hash__ = lambda self: self._strata_seq
    Node._strata_seq_hash = True


def tf_to_onnx(graph_def, input_name, out_names):
    import tf2onnx

    _make_tf2onnx_deterministic()

    model, _ = tf2onnx.convert.from_graph_def(
        graph_def,
        name="musicnn_msd",
        input_names=[input_name],
        output_names=[out_names[n] for n, _, _ in OUTPUTS],
        opset=OPSET,
    )
    return model


def canonicalize(model):
    """Give the tf2onnx graph a canonical node order and canonical names.

    tf2onnx names the nodes its optimisers create with a global counter, and
    the order in which it visits nodes depends on object identities, so two
    runs give isomorphic graphs with different names / orders.  Here every
    node gets a structural (Merkle) signature -- op type, attributes and the
    signatures of its inputs (initializers by content) -- nodes are sorted by
    (depth, signature), and all internal tensors, nodes and initializers are
    renamed by position.  Graph input and output names are kept.
    """
    from onnx import numpy_helper

    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    producer = {}
    for node in g.node:
        assert not any(a.g.node or a.graphs for a in node.attribute), node.name
        for j, o in enumerate(node.output):
            producer[o] = (node, j)
    graph_inputs = {i.name for i in g.input}
    graph_outputs = [o.name for o in g.output]

    sig_memo, depth_memo = {}, {}

    def tensor_sig(name):
        if name == "":
            return "none"
        if name in inits:
            a = inits[name]
            return "init:" + hashlib.sha256(
                str((a.dtype.str, a.shape)).encode() + a.tobytes()).hexdigest()
        if name in producer:
            node, j = producer[name]
            return f"{node_sig(node)}:{j}"
        assert name in graph_inputs, name
        return "input:" + name

    def node_sig(node):
        key = id(node)
        if key not in sig_memo:
            h = hashlib.sha256()
            h.update(f"{node.domain}|{node.op_type}|{len(node.output)}".encode())
            for a in sorted(node.attribute, key=lambda a: a.name):
                h.update(a.SerializeToString(deterministic=True))
            for i in node.input:
                h.update(b"|" + tensor_sig(i).encode())
            sig_memo[key] = h.hexdigest()
        return sig_memo[key]

    def depth(node):
        key = id(node)
        if key not in depth_memo:
            depth_memo[key] = 1 + max(
                [depth(producer[i][0]) for i in node.input if i in producer], default=0)
        return depth_memo[key]

    nodes = sorted(g.node, key=lambda nd: (depth(nd), node_sig(nd)))
    sigs = [node_sig(nd) for nd in nodes]
    assert len(set(sigs)) == len(sigs), "duplicate nodes: canonical order would be ambiguous"

    rename = {}
    for k, node in enumerate(nodes):
        for j, o in enumerate(node.output):
            if o and o not in graph_outputs:
                rename[o] = f"net/{k:03d}_{node.op_type}" + (f":{j}" if j else "")
    new_inits = []
    for node in nodes:
        for i in node.input:
            if i in inits and i not in rename:
                rename[i] = f"net/const_{len(new_inits):03d}"
                new_inits.append(numpy_helper.from_array(inits[i], rename[i]))

    new_nodes = []
    for k, node in enumerate(nodes):
        nd = type(node)()
        nd.CopyFrom(node)
        nd.name = f"net/{k:03d}_{node.op_type}"
        nd.doc_string = ""
        del nd.input[:]
        nd.input.extend(rename.get(i, i) for i in node.input)
        del nd.output[:]
        nd.output.extend(rename.get(o, o) for o in node.output)
        new_nodes.append(nd)

    del g.node[:]
    g.node.extend(new_nodes)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    del g.value_info[:]
    return model


def mel_constants():
    import librosa
    import scipy.signal

    mel = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS)  # [96, 257] float32
    assert mel.shape == (N_MELS, N_FFT // 2 + 1) and mel.dtype == np.float32
    # librosa.stft's default window (float64, periodic Hann)
    window = scipy.signal.get_window("hann", N_FFT, fftbins=True)
    assert window.dtype == np.float64
    return np.ascontiguousarray(mel.T), window


def build_full_model(net):
    """Wrap the tf2onnx network with the waveform front-end and reshapes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    g = net.graph
    assert len(g.input) == 1, [i.name for i in g.input]
    net_in = g.input[0].name
    net_outs = [o.name for o in g.output]
    assert len(net_outs) == len(OUTPUTS)

    mel_t, window = mel_constants()
    inits = []

    def const(name, value, dtype=None):
        arr = np.asarray(value, dtype=dtype)
        inits.append(numpy_helper.from_array(arr, name))
        return name

    i64 = np.int64
    const("fe/zero_1d", [0], i64)
    const("fe/zero3_1d", [0, 0, 0], i64)
    const("fe/one_1d", [1], i64)
    const("fe/two_1d", [2], i64)
    const("fe/min_samples", [MIN_SAMPLES], i64)
    const("fe/hop_1d", [HOP], i64)
    const("fe/n_frames_1d", [N_FRAMES], i64)
    const("fe/n_mels_1d", [N_MELS], i64)
    const("fe/center_pads", [0, N_FFT // 2, 0, N_FFT // 2], i64)
    const("fe/unsq_axes", [2], i64)
    const("fe/frame_step", HOP, i64)
    const("fe/frame_length", N_FFT, i64)
    const("fe/window", window)
    const("fe/last_axis", [-1], i64)
    const("fe/mel_basis_t", mel_t.astype(np.float64))  # librosa's float32 values
    const("fe/ten_thousand", 10000.0, np.float32)
    const("fe/one_f", 1.0, np.float32)
    const("fe/inv_ln10", np.float32(1.0 / np.log(10.0)), np.float32)
    const("fe/frame_axis", [1], i64)
    for name, dim, _ in OUTPUTS:
        const(f"out/{name}_dim", [dim], i64)

    def n(op, inputs, outputs, **attrs):
        return helper.make_node(op, inputs, outputs, name=outputs[0], **attrs)
    nodes = [
        # batch and samples as 1-D int64
        n("Shape", ["waveform"], ["fe/shape"]),
        n("Slice", ["fe/shape", "fe/zero_1d", "fe/one_1d"], ["fe/batch"]),
        n("Slice", ["fe/shape", "fe/one_1d", "fe/two_1d"], ["fe/samples"]),
        # patches = (1 + samples // hop) // 187   (== len(range(0, F-187+1, 187)))
        n("Div", ["fe/samples", "fe/hop_1d"], ["fe/samples_div_hop"]),
        n("Add", ["fe/samples_div_hop", "fe/one_1d"], ["fe/n_frames"]),
        n("Div", ["fe/n_frames", "fe/n_frames_1d"], ["fe/patches"]),
        n("Mul", ["fe/patches", "fe/n_frames_1d"], ["fe/kept_frames"]),
        # Guard: zero-pad inputs shorter than one patch up to MIN_SAMPLES so
        # that reflect padding / STFT never see a too-short signal.  Inputs of
        # >= MIN_SAMPLES samples get 0 extra samples (bit-identical result);
        # shorter ones give 0 patches anyway.
        n("Sub", ["fe/min_samples", "fe/samples"], ["fe/short_by"]),
        n("Max", ["fe/short_by", "fe/zero_1d"], ["fe/guard_len"]),
        n("Concat", ["fe/zero3_1d", "fe/guard_len"], ["fe/guard_pads"], axis=0),
        n("Pad", ["waveform", "fe/guard_pads"], ["fe/guarded"], mode="constant"),
        # The spectrogram is computed in float64: librosa's float32 values are
        # within ~1e-7 of exact (numpy's FFT works in double), while a float32
        # STFT in onnxruntime is off by ~1e-6..1e-4, which flips ~20x more
        # mel values to the neighbouring float16 in the rounding step below.
        n("Cast", ["fe/guarded"], ["fe/guarded_f64"], to=TensorProto.DOUBLE),
        # librosa center=True (reflect, as in librosa < 0.10)
        n("Pad", ["fe/guarded_f64", "fe/center_pads"], ["fe/padded"], mode="reflect"),
        n("Unsqueeze", ["fe/padded", "fe/unsq_axes"], ["fe/signal"]),
        n("STFT", ["fe/signal", "fe/frame_step", "fe/window", "fe/frame_length"],
          ["fe/stft"], onesided=1),  # [B, F, 257, 2]
        n("Mul", ["fe/stft", "fe/stft"], ["fe/stft_sq"]),
        n("ReduceSum", ["fe/stft_sq", "fe/last_axis"], ["fe/power"], keepdims=0),
        n("MatMul", ["fe/power", "fe/mel_basis_t"], ["fe/mel_f64"]),  # [B, F, 96]
        # librosa's float32 mel spectrogram, then musicnn's astype(np.float16)
        n("Cast", ["fe/mel_f64"], ["fe/mel"], to=TensorProto.FLOAT),
        n("Cast", ["fe/mel"], ["fe/mel_f16"], to=TensorProto.FLOAT16),
        n("Cast", ["fe/mel_f16"], ["fe/mel_f16_f32"], to=TensorProto.FLOAT),
        # np.log10(10000 * x + 1) in float32
        n("Mul", ["fe/mel_f16_f32", "fe/ten_thousand"], ["fe/mel_scaled"]),
        n("Add", ["fe/mel_scaled", "fe/one_f"], ["fe/mel_plus1"]),
        n("Log", ["fe/mel_plus1"], ["fe/mel_ln"]),
        n("Mul", ["fe/mel_ln", "fe/inv_ln10"], ["fe/logmel"]),
        # keep patches*187 frames, cut into [B*patches, 187, 96]
        n("Slice", ["fe/logmel", "fe/zero_1d", "fe/kept_frames", "fe/frame_axis"],
          ["fe/logmel_kept"]),
        n("Mul", ["fe/batch", "fe/patches"], ["fe/batch_x_patches"]),
        n("Concat", ["fe/batch_x_patches", "fe/n_frames_1d", "fe/n_mels_1d"],
          ["fe/patch_shape"], axis=0),
        n("Reshape", ["fe/logmel_kept", "fe/patch_shape"], [net_in], allowzero=1),
    ]
    nodes.extend(g.node)
    outputs = []
    for (name, dim, _), net_out in zip(OUTPUTS, net_outs):
        shape_name = f"out/{name}_shape"
        nodes.append(n("Concat", ["fe/batch", "fe/patches", f"out/{name}_dim"],
                       [shape_name], axis=0))
        nodes.append(n("Reshape", [net_out, shape_name], [name], allowzero=1))
        outputs.append(helper.make_tensor_value_info(
            name, TensorProto.FLOAT, ["batch", "patches", dim]))

    graph = helper.make_graph(
        nodes,
        "musicnn_msd",
        [helper.make_tensor_value_info("waveform", TensorProto.FLOAT, ["batch", "samples"])],
        outputs,
        initializer=inits + list(g.initializer),
    )
    opsets = [o for o in net.opset_import if o.domain not in ("", "ai.onnx")]
    opsets.insert(0, helper.make_opsetid("", OPSET))
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="strata models/convert_musicnn.py",
        producer_version="1",
        doc_string=("MusicNN MSD_musicnn (musicnn 0.1.0, ISC, (c) 2019 Music Technology "
                    "Group, Universitat Pompeu Fabra) with a 16 kHz waveform log-mel "
                    "front-end. Outputs are [batch, patches, dim], one patch per 187 "
                    "frames (47872 samples)."),
    )
    model.ir_version = 8  # widely supported by onnxruntime builds (opset 17 needs >= 8)
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    import onnx

    out = sys.argv[1] if len(sys.argv) > 1 else OUT_PATH
    graph_def, input_name, out_names = build_frozen_graph()
    net = canonicalize(tf_to_onnx(graph_def, input_name, out_names))
    model = build_full_model(net)
    data = model.SerializeToString(deterministic=True)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "wb") as f:
        f.write(data)
    print(f"wrote {out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    onnx.checker.check_model(out)


if __name__ == "__main__":
    main()
