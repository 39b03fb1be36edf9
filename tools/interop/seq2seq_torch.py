#!/usr/bin/python3
"""seq2seq <-> PyTorch: move a seq2seq model between the C++ library and torch.nn modules.

Run with Debian's interpreter, which has python3-torch (the `python3` first on PATH may be
another interpreter without torch):

    /usr/bin/python3 tools/interop/seq2seq_torch.py inspect  MODEL.safetensors
    /usr/bin/python3 tools/interop/seq2seq_torch.py score    MODEL.safetensors PAIRS.txt
    /usr/bin/python3 tools/interop/seq2seq_torch.py greedy   MODEL.safetensors SOURCES.txt
    /usr/bin/python3 tools/interop/seq2seq_torch.py init     OUT.safetensors --src-vocab 12 ...
    /usr/bin/python3 tools/interop/seq2seq_torch.py roundtrip IN.safetensors OUT.safetensors
    /usr/bin/python3 tools/interop/seq2seq_torch.py compare  A.txt B.txt [--tol 1e-5]
    /usr/bin/python3 tools/interop/seq2seq_torch.py golden   [--out-dir tests/reference]

PAIRS lines are "source ids<TAB>target ids" (space-separated token ids without <s>/<EOS>; the
target may be empty); SOURCES lines are source ids. `score` prints one log p(target | source)
per line. `inspect` and `compare` need no torch.

As a library:

    import seq2seq_torch as st
    model, metadata = st.load_model("model.safetensors")     # a Seq2SeqTorch (torch.nn.Module)
    logp = model.log_prob([[4, 5, 6]], [[6, 5, 4]])           # tensor of log p(y | x), one per pair
    ... train it in torch ...
    st.save_model("tuned.safetensors", model, metadata)       # loads in C++ with load_parameters

The mapping (our matrices are column-major, stored as row-major [rows, cols] arrays, so every
matrix reads as the same array in numpy/torch):

    seq2seq tensor                 shape        torch parameter
    encoder.embedding.E            [E, Vs]      enc_embedding.weight (Vs x E) = E transposed
    encoder.layer{l}.W             [4H, I_l]    encoder.weight_ih_l{l}       (I_0 = E, I_l = H)
    encoder.layer{l}.U             [4H, H]      encoder.weight_hh_l{l}
    encoder.layer{l}.b             [4H, 1]      encoder.bias_ih_l{l} + encoder.bias_hh_l{l}
    decoder.embedding.E            [E, Vt]      dec_embedding.weight = E transposed
    decoder.layer{l}.W, U, b       as above     decoder.weight_ih_l{l}, weight_hh_l{l}, biases
    decoder.softmax.W              [Vt, H]      output.weight
    decoder.softmax.b              [Vt, 1]      output.bias

Gate rows are packed i, f, g, o (input, forget, cell candidate, output) on both sides, so no
shuffling is needed. Our single bias b is torch's bias_ih + bias_hh: importing sets bias_ih = b,
bias_hh = 0; exporting sums them. Peephole cells (layer{l}.P) have no torch.nn.LSTM equivalent
and are refused.

The model (Sutskever et al. 2014; include/seq2seq/encoder.hpp, decoder.hpp): the encoder reads
the source reversed (unless the checkpoint's "config" says reverse_source = false), then <EOS>
(id 3); every layer's final (h, c) starts the same layer of the decoder, whose inputs are <s> (id 2),
y_1, ..., y_n and whose targets are y_1, ..., y_n, <EOS>.

The file format is parsed by hand (no `safetensors` package needed): 8-byte little-endian
header length N, N bytes of JSON, then the raw little-endian data; seq2seq's integrity keys in
__metadata__ ("seq2seq.format_version", "seq2seq.checksum", "seq2seq.header_checksum", FNV-1a 64)
are verified on reading and written on export (include/seq2seq/io/safetensors.hpp).
"""

import argparse
import json
import math
import os
import re
import struct
import sys

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIAL_COUNT = 4

FORMAT_VERSION = 1
KEY_FORMAT_VERSION = "seq2seq.format_version"
KEY_CHECKSUM = "seq2seq.checksum"
KEY_HEADER_CHECKSUM = "seq2seq.header_checksum"
KEY_CONTENT = "seq2seq.content"
MAX_HEADER_BYTES = 100 << 20

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1

# safetensors dtype -> (numpy type code, bytes per element), for the dtypes seq2seq files use.
DTYPES = {"F32": ("<f4", 4), "F64": ("<f8", 8), "I32": ("<i4", 4), "I64": ("<i8", 8)}


class CheckpointError(ValueError):
    """A file that is not a valid seq2seq checkpoint (the message says why)."""


# ---------------------------------------------------------------------------------------------
# The file format
# ---------------------------------------------------------------------------------------------
def fnv1a64(data, h=FNV_OFFSET):
    """FNV-1a 64 of `data` (bytes), continuing from h. Pure Python: about 10 MB/s."""
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return h


def _numpy():
    try:
        import numpy
    except ImportError:
        sys.exit("seq2seq_torch.py: this command needs numpy; run it with /usr/bin/python3 (Debian's python3-torch)")
    return numpy


def read_safetensors(path, verify=True, arrays=True):
    """Returns (tensors, metadata, order): name -> numpy array of the stored shape (with
    arrays=False: name -> (dtype name, shape), and numpy is not needed), the __metadata__ dict, and
    the tensor names in data-section order."""
    with open(path, "rb") as f:
        raw = f.read()

    def bad(what):
        raise CheckpointError("checkpoint '%s': %s" % (path, what))

    if len(raw) < 8:
        bad("file has %d bytes, too few for the 8-byte header length" % len(raw))
    (n,) = struct.unpack("<Q", raw[:8])
    if n < 2 or n > MAX_HEADER_BYTES or n > len(raw) - 8:
        bad("header length %d is impossible for a file of %d bytes" % (n, len(raw)))
    header_bytes = raw[8 : 8 + n]
    data = raw[8 + n :]
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        bad("header is not valid JSON: %s" % e)
    if not isinstance(header, dict):
        bad("header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        bad("__metadata__ is not a map of strings")

    if verify and KEY_FORMAT_VERSION in metadata:
        try:
            version = int(metadata[KEY_FORMAT_VERSION])
        except ValueError:
            bad("format version %r is not a number" % metadata[KEY_FORMAT_VERSION])
        if version > FORMAT_VERSION:
            bad("format version %d is newer than this script (%d)" % (version, FORMAT_VERSION))
        stored = metadata.get(KEY_HEADER_CHECKSUM, "")
        pattern = ('"%s":"' % KEY_HEADER_CHECKSUM).encode()
        at = header_bytes.find(pattern)
        if at < 0 or header_bytes.find(pattern, at + 1) >= 0:
            bad("header checksum field not found exactly once")
        at += len(pattern)
        zeroed = header_bytes[:at] + b"0" * 16 + header_bytes[at + 16 :]
        if "%016x" % fnv1a64(zeroed) != stored:
            bad("header checksum mismatch: the file is corrupt")
        if "%016x" % fnv1a64(data) != metadata.get(KEY_CHECKSUM, ""):
            bad("data checksum mismatch: the tensor data is corrupt")

    tensors, spans = {}, []
    for name, entry in header.items():
        dtype = DTYPES.get(entry.get("dtype")) if isinstance(entry, dict) else None
        if dtype is None:
            bad("tensor '%s' has unsupported dtype %r" % (name, entry.get("dtype")))
        shape = [int(d) for d in entry["shape"]]
        begin, end = (int(x) for x in entry["data_offsets"])
        count = math.prod(shape)
        if not 0 <= begin <= end <= len(data) or end - begin != count * dtype[1]:
            bad("tensor '%s' has data_offsets [%d, %d] that do not fit its shape or the file" % (name, begin, end))
        if arrays:
            np = _numpy()
            tensors[name] = np.frombuffer(data, dtype=dtype[0], count=count, offset=begin).reshape(shape).copy()
        else:
            tensors[name] = (entry["dtype"], shape)
        spans.append((begin, end, name))
    spans.sort()
    cursor = 0
    for begin, end, name in spans:
        if begin != cursor:
            bad("tensor '%s' does not start where the previous one ends (gap or overlap)" % name)
        cursor = end
    if cursor != len(data):
        bad("the data section has %d bytes but its tensors cover %d" % (len(data), cursor))
    return tensors, metadata, [name for _, _, name in spans]


def write_safetensors(path, tensors, metadata):
    """Writes [(name, 2-D numpy array)] in that data order, with `metadata` (str -> str) plus
    seq2seq's integrity keys, exactly as the C++ writer does (sorted compact JSON padded with
    spaces to a multiple of 8 bytes, FNV-1a 64 checksums), atomically (temporary file + rename)."""
    np = _numpy()
    data = bytearray()
    root = {}
    for name, array in tensors:
        a = np.ascontiguousarray(array)
        if a.ndim != 2:
            raise ValueError("tensor '%s' must be 2-D (vectors are [n, 1]), got shape %s" % (name, a.shape))
        code = {np.dtype("float32"): "F32", np.dtype("float64"): "F64"}.get(a.dtype)
        if code is None:
            raise ValueError("tensor '%s' has dtype %s; seq2seq checkpoints hold float32 or float64" % (name, a.dtype))
        raw = a.astype(DTYPES[code][0], copy=False).tobytes(order="C")
        root[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    meta = dict(metadata)
    for key in (KEY_FORMAT_VERSION, KEY_CHECKSUM, KEY_HEADER_CHECKSUM):
        meta.pop(key, None)
    meta[KEY_FORMAT_VERSION] = str(FORMAT_VERSION)
    meta[KEY_CHECKSUM] = "%016x" % fnv1a64(data)
    meta[KEY_HEADER_CHECKSUM] = "0" * 16
    root["__metadata__"] = meta
    header = json.dumps(root, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    header += b" " * ((-(8 + len(header))) % 8)
    pattern = ('"%s":"' % KEY_HEADER_CHECKSUM).encode()
    at = header.find(pattern) + len(pattern)
    header = header[:at] + ("%016x" % fnv1a64(header)).encode() + header[at + 16 :]
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# The model in torch
# ---------------------------------------------------------------------------------------------
def _torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("seq2seq_torch.py: this command needs torch; run it with /usr/bin/python3 (Debian's python3-torch)")
    return torch


def model_class():
    """Seq2SeqTorch, defined on first use so that `inspect` and `compare` run without torch."""
    torch = _torch()
    nn = torch.nn

    class Seq2SeqTorch(nn.Module):
        """The seq2seq model with torch.nn modules (see the module docstring for the mapping)."""

        def __init__(self, source_vocab, target_vocab, embed, hidden, layers, reverse_source=True):
            super().__init__()
            self.reverse_source = reverse_source
            self.enc_embedding = nn.Embedding(source_vocab, embed)
            self.encoder = nn.LSTM(embed, hidden, layers)
            self.dec_embedding = nn.Embedding(target_vocab, embed)
            self.decoder = nn.LSTM(embed, hidden, layers)
            self.output = nn.Linear(hidden, target_vocab)

        def config(self):
            return {
                "source_vocab": self.enc_embedding.num_embeddings,
                "target_vocab": self.dec_embedding.num_embeddings,
                "embed": self.enc_embedding.embedding_dim,
                "hidden": self.encoder.hidden_size,
                "layers": self.encoder.num_layers,
                "reverse_source": self.reverse_source,
            }

        def _pad(self, seqs):
            """Lists of ids -> (T, B) long tensor padded with <pad>, and the lengths."""
            lengths = [len(s) for s in seqs]
            ids = torch.full((max(lengths), len(seqs)), PAD, dtype=torch.long)
            for b, s in enumerate(seqs):
                if s:
                    ids[: len(s), b] = torch.tensor(s, dtype=torch.long)
            return ids, lengths

        def encode(self, sources):
            """(h, c), each (layers, B, hidden): every layer's state after the reversed source
            and <EOS>. Sequences of different lengths are packed, so padding never reaches the
            state (as the C++ mask does)."""
            if any(len(s) == 0 for s in sources):
                raise ValueError("empty source sentence")
            seqs = [(list(reversed(s)) if self.reverse_source else list(s)) + [EOS] for s in sources]
            ids, lengths = self._pad(seqs)
            packed = nn.utils.rnn.pack_padded_sequence(self.enc_embedding(ids), lengths, enforce_sorted=False)
            _, state = self.encoder(packed)
            return state

        def log_prob(self, sources, targets):
            """log p(target | source) of every pair (a tensor of B values, differentiable)."""
            state = self.encode(sources)
            inputs, lengths = self._pad([[BOS] + list(y) for y in targets])
            outputs, _ = self._pad([list(y) + [EOS] for y in targets])
            packed = nn.utils.rnn.pack_padded_sequence(self.dec_embedding(inputs), lengths, enforce_sorted=False)
            hs, _ = self.decoder(packed, state)
            hs, _ = nn.utils.rnn.pad_packed_sequence(hs, total_length=inputs.shape[0])
            logp = torch.log_softmax(self.output(hs), dim=-1)  # (T, B, V)
            picked = logp.gather(2, outputs.unsqueeze(2)).squeeze(2)
            mask = torch.arange(inputs.shape[0]).unsqueeze(1) < torch.tensor(lengths).unsqueeze(0)
            return (picked * mask.to(picked.dtype)).sum(0)

        @torch.no_grad()
        def greedy(self, source, max_length=0):
            """The C++ translate_greedy: the most likely word until <EOS>, never <pad> or <s>, ties
            to the lower id, at most max_length words (0: 2n + 10). Returns (ids, smallest margin
            between the chosen word and the runner-up, over all steps)."""
            limit = max_length if max_length > 0 else 2 * len(source) + 10
            state = self.encode([source])
            last, out, margin = BOS, [], math.inf
            for t in range(limit + 1):
                x = self.dec_embedding(torch.tensor([[last]]))
                h, state = self.decoder(x, state)
                if t == limit:
                    break
                logp = torch.log_softmax(self.output(h[0, 0]), dim=-1)
                logp[PAD] = -math.inf
                logp[BOS] = -math.inf
                top = torch.topk(logp, 2)
                best = int(top.indices[0])
                margin = min(margin, float(top.values[0] - top.values[1]))
                if best == EOS:
                    break
                out.append(best)
                last = best
            return out, margin

    return Seq2SeqTorch


def _config_from(tensors, metadata, path):
    """Sizes from the tensor shapes; reverse_source from the "config" metadata (default true)."""
    layers = 0
    while "encoder.layer%d.W" % layers in tensors:
        layers += 1
    if layers == 0:
        raise CheckpointError("checkpoint '%s' has no encoder.layer0.W: not a seq2seq model" % path)
    if any(name.endswith(".P") for name in tensors):
        raise CheckpointError("checkpoint '%s' has peephole weights (layer*.P); torch.nn.LSTM has no peepholes" % path)
    enc_E, dec_E = tensors["encoder.embedding.E"], tensors["decoder.embedding.E"]
    cfg = {
        "source_vocab": enc_E.shape[1],
        "target_vocab": dec_E.shape[1],
        "embed": enc_E.shape[0],
        "hidden": tensors["encoder.layer0.U"].shape[1],
        "layers": layers,
        "reverse_source": True,
    }
    if "config" in metadata:
        try:
            stored = json.loads(metadata["config"])
        except ValueError as e:
            raise CheckpointError("checkpoint '%s': the \"config\" metadata is not JSON: %s" % (path, e))
        cfg["reverse_source"] = bool(stored.get("reverse_source", True))
        if stored.get("peephole"):
            raise CheckpointError("checkpoint '%s' is a peephole model; torch.nn.LSTM has no peepholes" % path)
        for key in ("source_vocab", "target_vocab", "embed", "hidden", "layers"):
            if key in stored and int(stored[key]) != cfg[key]:
                raise CheckpointError("checkpoint '%s': config says %s = %s, the tensors say %d"
                                      % (path, key, stored[key], cfg[key]))
    return cfg


def parameter_names(layers):
    """Tensor names in the C++ visitor order (the data order of save_parameters)."""
    names = []
    for side in ("encoder", "decoder"):
        names.append(side + ".embedding.E")
        for l in range(layers):
            names += ["%s.layer%d.%s" % (side, l, p) for p in ("W", "U", "b")]
    return names + ["decoder.softmax.W", "decoder.softmax.b"]


def load_model(path, dtype=None):
    """A Seq2SeqTorch holding the checkpoint's weights, and the checkpoint's metadata (all keys).
    dtype: torch dtype of the module (default: the file's, float32 or float64)."""
    torch = _torch()
    np = _numpy()
    tensors, metadata, _ = read_safetensors(path)
    cfg = _config_from(tensors, metadata, path)
    expected = set(parameter_names(cfg["layers"]))
    if set(tensors) != expected:
        raise CheckpointError("checkpoint '%s': unexpected tensors %s, missing %s"
                              % (path, sorted(set(tensors) - expected), sorted(expected - set(tensors))))
    model = model_class()(**cfg)
    if dtype is None:
        dtype = torch.float64 if tensors["encoder.embedding.E"].dtype == np.float64 else torch.float32
    model.to(dtype)

    def t(name, transpose=False, flat=False):
        a = tensors[name]
        a = a.T if transpose else a
        a = a.reshape(-1) if flat else a
        return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)

    with torch.no_grad():
        for side, emb, lstm in (("encoder", model.enc_embedding, model.encoder),
                                ("decoder", model.dec_embedding, model.decoder)):
            emb.weight.copy_(t(side + ".embedding.E", transpose=True))
            for l in range(cfg["layers"]):
                getattr(lstm, "weight_ih_l%d" % l).copy_(t("%s.layer%d.W" % (side, l)))
                getattr(lstm, "weight_hh_l%d" % l).copy_(t("%s.layer%d.U" % (side, l)))
                getattr(lstm, "bias_ih_l%d" % l).copy_(t("%s.layer%d.b" % (side, l), flat=True))
                getattr(lstm, "bias_hh_l%d" % l).zero_()
        model.output.weight.copy_(t("decoder.softmax.W"))
        model.output.bias.copy_(t("decoder.softmax.b", flat=True))
    return model, metadata


def export_tensors(model, np_dtype="float32"):
    """[(name, array)] in the C++ visitor order; biases summed (b = bias_ih + bias_hh)."""
    def a(p):
        return p.detach().cpu().numpy().astype(np_dtype)

    out = []
    for side, emb, lstm in (("encoder", model.enc_embedding, model.encoder),
                            ("decoder", model.dec_embedding, model.decoder)):
        out.append((side + ".embedding.E", a(emb.weight).T))
        for l in range(lstm.num_layers):
            out.append(("%s.layer%d.W" % (side, l), a(getattr(lstm, "weight_ih_l%d" % l))))
            out.append(("%s.layer%d.U" % (side, l), a(getattr(lstm, "weight_hh_l%d" % l))))
            bias = getattr(lstm, "bias_ih_l%d" % l) + getattr(lstm, "bias_hh_l%d" % l)
            out.append(("%s.layer%d.b" % (side, l), a(bias).reshape(-1, 1)))
    out.append(("decoder.softmax.W", a(model.output.weight)))
    out.append(("decoder.softmax.b", a(model.output.bias).reshape(-1, 1)))
    return out


def save_model(path, model, metadata=None, np_dtype="float32"):
    """Writes `model` as a checkpoint that seq2seq::io::load_parameters accepts. `metadata` (for
    instance the dict load_model returned) is carried over; "config" is added when absent (in the
    toy_translation layout) and its sizes are checked; seq2seq's own keys are rewritten."""
    meta = {k: v for k, v in (metadata or {}).items() if not k.startswith("seq2seq.")}
    cfg = model.config()
    if "config" in meta:
        stored = json.loads(meta["config"])
        for key in ("source_vocab", "target_vocab", "embed", "hidden", "layers"):
            if int(stored.get(key, cfg[key])) != cfg[key]:
                raise ValueError("metadata config says %s = %s but the model has %d" % (key, stored[key], cfg[key]))
    else:
        full = dict(cfg, peephole=False, max_length=0, per_token_loss=False)
        meta["config"] = json.dumps(full, sort_keys=True, separators=(",", ":"))
    meta[KEY_CONTENT] = "parameters"
    write_safetensors(path, export_tensors(model, np_dtype), meta)


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
def read_pairs(path):
    """Lines "source ids<TAB>target ids[<TAB>anything]"; '#' lines and blank lines skipped."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                sys.exit("%s:%d: expected 'source ids<TAB>target ids'" % (path, line_no))
            pairs.append(([int(x) for x in fields[0].split()], [int(x) for x in fields[1].split()]))
    return pairs


def cmd_inspect(args):
    tensors, metadata, order = read_safetensors(args.model, arrays=False)
    for name in order:
        print("%-28s %-4s %s" % (name, tensors[name][0], tensors[name][1]))
    for key in sorted(metadata):
        value = metadata[key]
        print("metadata %s = %s" % (key, value if len(value) <= 100 else value[:97] + "..."))


def cmd_score(args):
    torch = _torch()
    model, _ = load_model(args.model, dtype=getattr(torch, args.dtype))
    pairs = read_pairs(args.pairs)
    with torch.no_grad():
        scores = model.log_prob([p[0] for p in pairs], [p[1] for p in pairs])
    for s in scores.tolist():
        print("%.10g" % s)


def cmd_greedy(args):
    torch = _torch()
    model, _ = load_model(args.model, dtype=getattr(torch, args.dtype))
    with open(args.sources, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                ids, _ = model.greedy([int(x) for x in line.split("\t")[0].split()])
                print(" ".join(str(i) for i in ids))


def cmd_init(args):
    """A torch-initialised model (nn.LSTM's default U(-1/sqrt(H), 1/sqrt(H)) for every weight and
    both biases, N(0, 1) embeddings, nn.Linear's default) saved as a seq2seq checkpoint."""
    torch = _torch()
    torch.manual_seed(args.seed)
    model = model_class()(args.src_vocab, args.tgt_vocab, args.embed, args.hidden, args.layers,
                          reverse_source=not args.no_reverse)
    save_model(args.out, model, {"producer": "seq2seq_torch.py init --seed %d" % args.seed})


def cmd_roundtrip(args):
    """Checkpoint -> torch modules -> checkpoint, in the file's dtype. For a file written by the
    C++ library the output is byte-identical to the input."""
    tensors, metadata, _ = read_safetensors(args.input)
    np_dtype = tensors["encoder.embedding.E"].dtype
    model, metadata = load_model(args.input)
    save_model(args.output, model, metadata, np_dtype=np_dtype)


def read_numbers(path):
    with open(path, encoding="utf-8") as f:
        return [float(line.split()[0]) for line in f if line.strip() and not line.startswith("#")]


def cmd_compare(args):
    a, b = read_numbers(args.a), read_numbers(args.b)
    if len(a) != len(b):
        sys.exit("compare: %s has %d values, %s has %d" % (args.a, len(a), args.b, len(b)))
    worst = max((abs(x - y) for x, y in zip(a, b)), default=0.0)
    bad = [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if not abs(x - y) <= args.tol]
    for i, x, y in bad:
        print("line %d: %.10g vs %.10g (difference %.3g)" % (i + 1, x, y, abs(x - y)))
    print("compare: %d values, largest difference %.3g (tolerance %g): %s"
          % (len(a), worst, args.tol, "FAIL" if bad else "ok"))
    sys.exit(1 if bad else 0)


GOLDEN_PAIRS = [
    ([4, 5, 6], [8, 7, 6]),  # the trained task: reverse, ids + 2
    ([11], [13]),
    ([9, 8, 7, 6, 5, 4, 10], [12, 6, 7, 8, 9, 10, 11]),  # longer than any training source
    ([5, 5, 5, 5], [7, 7]),
    ([10, 4], []),  # the empty translation: log p(<EOS> | source)
    ([7, 11, 4, 8, 6], [12, 4, 13, 5, 9, 10, 11, 8]),  # an unlikely target
]


def cmd_golden(args):
    """tests/reference/interop_model.safetensors and interop_scores.txt: a model trained in torch
    for a few seconds to map a source sequence to its reverse with every id shifted by 2 (both
    biases non-zero, so the bias sum is exercised; embedding != hidden, so layer 0's W has another
    shape than layer 1's), and log p(y | x) plus the greedy translation of each pair, computed by
    torch in float64 from the float32 weights."""
    torch = _torch()
    out_model = os.path.join(args.out_dir, "interop_model.safetensors")
    out_scores = os.path.join(args.out_dir, "interop_scores.txt")
    torch.manual_seed(20240607)
    src_vocab, tgt_vocab, embed, hidden, layers = 12, 14, 6, 5, 2
    model = model_class()(src_vocab, tgt_vocab, embed, hidden, layers)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.6, 0.6)
    adam = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(400):
        srcs = [torch.randint(SPECIAL_COUNT, src_vocab, (int(torch.randint(1, 6, ())),)).tolist() for _ in range(32)]
        tgts = [[x + 2 for x in reversed(s)] for s in srcs]
        adam.zero_grad()
        loss = -model.log_prob(srcs, tgts).mean()
        loss.backward()
        adam.step()
    save_model(out_model, model, {"producer": "tools/interop/seq2seq_torch.py golden"})

    # Scores from the file just written (float32 weights, summed biases) in float64 ...
    reloaded, _ = load_model(out_model, dtype=torch.float64)
    # ... and from the original module with its two biases, which must agree.
    original = model.double()
    srcs, tgts = [p[0] for p in GOLDEN_PAIRS], [p[1] for p in GOLDEN_PAIRS]
    with torch.no_grad():
        scores = reloaded.log_prob(srcs, tgts).tolist()
        direct = original.log_prob(srcs, tgts).tolist()
    # One pair at a time must give the same as the padded batch (padding never leaks).
    singles = [float(reloaded.log_prob([s], [t])[0]) for s, t in GOLDEN_PAIRS]
    for a, b, c in zip(scores, direct, singles):
        if abs(a - b) > 1e-6 or abs(a - c) > 1e-12:
            sys.exit("golden: inconsistent torch scores %r %r %r" % (a, b, c))
    lines = [
        "# log p(target | source) and greedy translations of tests/reference/interop_model.safetensors,",
        "# computed by torch %s in float64 with tools/interop/seq2seq_torch.py golden (regenerate:" % torch.__version__,
        "#   /usr/bin/python3 tools/interop/seq2seq_torch.py golden --out-dir tests/reference).",
        "# Model: source vocab %d, target vocab %d, embed %d, hidden %d, %d layers, source reversed." %
        (src_vocab, tgt_vocab, embed, hidden, layers),
        "# Trained in torch to reverse the source and add 2 to every id.",
        "# Columns: source ids<TAB>target ids<TAB>log p<TAB>greedy translation of the source<TAB>smallest",
        "# margin between the greedy choice and the runner-up (log p) over the steps of that translation.",
    ]
    for (src, tgt), s in zip(GOLDEN_PAIRS, scores):
        ids, margin = reloaded.greedy(src)
        if margin < 1e-4:
            sys.exit("golden: greedy decoding of %r has a near tie (margin %g); choose another seed" % (src, margin))
        lines.append("%s\t%s\t%.12f\t%s\t%.3g" % (" ".join(map(str, src)), " ".join(map(str, tgt)), s,
                                                  " ".join(map(str, ids)), margin))
    with open(out_scores, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s and %s" % (out_model, out_scores))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("inspect", help="list tensors and metadata (no torch needed)")
    s.add_argument("model")
    s.set_defaults(run=cmd_inspect)

    for name, fn, what in (("score", cmd_score, "pairs"), ("greedy", cmd_greedy, "sources")):
        s = sub.add_parser(name, help="log p(y | x) per pair" if name == "score" else "greedy translation per source")
        s.add_argument("model")
        s.add_argument(what)
        s.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                       help="torch precision of the computation (default float64)")
        s.set_defaults(run=fn)

    s = sub.add_parser("init", help="save a torch-initialised model as a seq2seq checkpoint")
    s.add_argument("out")
    s.add_argument("--src-vocab", type=int, required=True)
    s.add_argument("--tgt-vocab", type=int, required=True)
    s.add_argument("--embed", type=int, required=True)
    s.add_argument("--hidden", type=int, required=True)
    s.add_argument("--layers", type=int, default=2)
    s.add_argument("--no-reverse", action="store_true")
    s.add_argument("--seed", type=int, default=1)
    s.set_defaults(run=cmd_init)

    s = sub.add_parser("roundtrip", help="checkpoint -> torch -> checkpoint")
    s.add_argument("input")
    s.add_argument("output")
    s.set_defaults(run=cmd_roundtrip)

    s = sub.add_parser("compare", help="compare two files of numbers (first field per line)")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("--tol", type=float, default=1e-5)
    s.set_defaults(run=cmd_compare)

    s = sub.add_parser("golden", help="regenerate tests/reference/interop_* (needs torch)")
    s.add_argument("--out-dir", default=os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                       "..", "..", "tests", "reference")))
    s.set_defaults(run=cmd_golden)

    args = p.parse_args(argv)
    try:
        args.run(args)
    except (CheckpointError, OSError) as e:
        sys.exit("seq2seq_torch.py: %s" % e)


if __name__ == "__main__":
    main()
