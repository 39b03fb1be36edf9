#!/usr/bin/env python3
"""python_bad_input: bad input from Python gives a clear exception and the interpreter goes on.

Wrong types (TypeError), empty or over-long sentences, ids out of range and bad options
(ValueError), missing, damaged, truncated and foreign model files (OSError), bad training
keywords, and a progress callback that raises or stops the run. After each, the same Translator
still translates; the script reaching its end is the proof that nothing crashed.

    test_bad_input.py --cli toy_translation --reference python_reference --work DIR
"""
import argparse
import os
import shutil
import sys

import seq2seq

TINY = dict(pairs=100, embed=8, hidden=8, layers=1, epochs=1, batch=16, show=0, quiet=True)
checked = 0


def expect(exc, fragment, f, *args, **kwargs):
    """f(*args, **kwargs) must raise `exc` with `fragment` in its message."""
    global checked
    try:
        f(*args, **kwargs)
    except exc as e:
        if fragment not in str(e):
            raise AssertionError(f"{f.__name__}{args}: message {str(e)!r} lacks {fragment!r}")
        checked += 1
        return str(e)
    except Exception as e:  # noqa: BLE001 - the wrong kind of exception is the failure
        raise AssertionError(f"{getattr(f, '__name__', f)}{args} {kwargs}: {type(e).__name__} ({e}), expected {exc.__name__}")
    raise AssertionError(f"{getattr(f, '__name__', f)}{args} {kwargs}: no exception, expected {exc.__name__}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli")
    ap.add_argument("--reference")
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    run_dir = os.path.join(a.work, "run")
    model = seq2seq.train(out=run_dir, **TINY)
    t = seq2seq.Translator(model)
    good = t.translate(["the cat sees the dog ."], beam=2)

    # --- model files ---------------------------------------------------------------------------
    expect(FileNotFoundError, "no model file", seq2seq.Translator, os.path.join(a.work, "missing.safetensors"))
    expect(FileNotFoundError, "no model file", seq2seq.Translator, a.work)  # a directory without model.safetensors
    expect(TypeError, "path", seq2seq.Translator, 42)
    expect(ValueError, "threads", seq2seq.Translator, model, threads=0)
    expect(TypeError, "", seq2seq.Translator, model, threads=-1)
    with open(model, "rb") as f:
        data = f.read()

    def write(name, content):
        path = os.path.join(a.work, name)
        with open(path, "wb") as f:
            f.write(content)
        return path

    flipped = bytearray(data)
    flipped[-5] ^= 0x40  # inside the last tensor's data
    expect(OSError, "checksum", seq2seq.Translator, write("flipped.safetensors", bytes(flipped)))
    expect(OSError, "seq2seq", seq2seq.Translator, write("truncated.safetensors", data[: len(data) // 2]))
    expect(OSError, "seq2seq", seq2seq.Translator, write("empty.safetensors", b""))
    expect(OSError, "seq2seq", seq2seq.Translator, write("text.safetensors", b"source\ttarget\n" * 10))
    header = bytearray(data)
    header[20] ^= 0x01  # inside the JSON header
    expect(OSError, "seq2seq", seq2seq.Translator, write("header.safetensors", bytes(header)))
    expect(OSError, "", t.save, os.path.join(a.work, "no", "such", "dir", "m.safetensors"))

    # --- translate and score ---------------------------------------------------------------------
    expect(TypeError, "not a single str", t.translate, "the cat sees the dog .")
    expect(TypeError, "sources[1] is int", t.translate, ["the cat .", 7])
    expect(TypeError, "must be a list of str", t.translate, None)
    expect(TypeError, "not a single bytes", t.translate, b"the cat")
    expect(ValueError, "sources[1]: empty sentence", t.translate, ["the cat .", ""])
    expect(ValueError, "empty sentence", t.translate, ["   \t "])
    expect(ValueError, "longer than the model's limit", t.translate, ["cat " * 60])
    expect(ValueError, "beam", t.translate, ["the cat ."], beam=0)
    expect(ValueError, "nbest", t.translate, ["the cat ."], beam=2, nbest=3)
    expect(ValueError, "max_length", t.translate, ["the cat ."], max_length=0)
    expect(TypeError, "max_length", t.translate, ["the cat ."], max_length="10")
    expect(ValueError, "length_alpha", t.translate, ["the cat ."], length_alpha=-1.0)
    expect(ValueError, "length_alpha", t.translate, ["the cat ."], length_alpha=float("nan"))
    expect(TypeError, "", t.translate, ["the cat ."], beam="3")
    expect(ValueError, "2 targets", t.score, ["the cat ."], ["a", "b"])
    expect(ValueError, "sources[0]: empty sentence", t.score, [""], ["x"])
    expect(ValueError, "targets[0]: empty target sentence", t.score, ["the cat ."], [" "])
    expect(TypeError, "targets", t.score, ["the cat ."], "x")
    expect(ValueError, "batch_size", t.score, ["the cat ."], ["x"], batch_size=0)
    check = t.score([], [])
    assert check == [], check

    # --- token ids ---------------------------------------------------------------------------------
    V = t.config["source_vocab"]
    expect(ValueError, f"token id {V} is outside the vocabulary of {V} tokens", t.translate_ids, [[5, V]])
    expect(ValueError, "out of range", t.translate_ids, [[-1]])
    expect(ValueError, "out of range", t.translate_ids, [[2**40]])
    expect(ValueError, "out of range", t.translate_ids, [[2**80]])
    expect(ValueError, "empty sentence", t.translate_ids, [[]])
    expect(TypeError, "not int", t.translate_ids, [["5"]])
    expect(TypeError, "not int", t.translate_ids, [[5.0]])
    expect(TypeError, "not int", t.translate_ids, [[True]])
    expect(TypeError, "list of lists", t.translate_ids, "5 6")
    expect(ValueError, "outside the vocabulary", t.score_ids, [[5]], [[t.config["target_vocab"]]])
    expect(ValueError, "outside the vocabulary", t.decode, [10**6])
    expect(ValueError, "out of range", t.decode, [-3])
    expect(ValueError, "empty sentence", t.encode, "")
    expect(ValueError, "side", t.encode, "the cat", side="middle")
    assert t.score_ids([[5, 6]], [[]])[0] < 0  # the empty translation: log p(<EOS> | source)

    # --- parameters: NaN weights written through a view are refused, not a crash ------------------
    b = t.parameters()["decoder.softmax.b"]
    saved = b.copy()
    b[:] = float("nan")
    expect(RuntimeError, "NaN", t.score, ["the cat ."], ["x"])
    expect(RuntimeError, "NaN", t.translate, ["the cat ."])
    b[:] = saved

    # --- train ----------------------------------------------------------------------------------
    out = os.path.join(a.work, "t")
    expect(TypeError, "unexpected keyword argument 'epoch'", seq2seq.train, out=out, epoch=1)
    expect(TypeError, "keyword arguments only", seq2seq.train, out)
    expect(ValueError, "lr must be above 0", seq2seq.train, out=out, lr=-1.0)
    expect(ValueError, "optimizer must be one of", seq2seq.train, out=out, optimizer="lbfgs")
    expect(TypeError, "epochs must be a number", seq2seq.train, out=out, epochs="1")
    expect(ValueError, "layers must be in [1, 64]", seq2seq.train, out=out, layers=0)
    expect(TypeError, "reverse must be True or False", seq2seq.train, out=out, reverse=1)
    expect(ValueError, "subwords must be 0 (words) or at least 8 pieces", seq2seq.train, out=out, subwords=4)
    expect(ValueError, "subwords_joint needs subwords", seq2seq.train, out=out, subwords_joint=True)
    expect(ValueError, "subword_type must be one of", seq2seq.train, out=out, subwords=100, subword_type="wordpiece")
    expect(ValueError, "needs a validation set", seq2seq.train, out=out, keep="best", valid_fraction=0.0)
    expect(TypeError, "progress must be callable", seq2seq.train, out=out, progress=5)
    expect(FileNotFoundError, "no such corpus file", seq2seq.train, out=out, train_tsv=os.path.join(a.work, "none.tsv"))
    bad_tsv = os.path.join(a.work, "bad.tsv")
    with open(bad_tsv, "w") as f:
        f.write("no tab here\n")
    expect(ValueError, "no tab", seq2seq.train, out=out, train_tsv=bad_tsv, **TINY)
    expect(RuntimeError, "already holds a training run", seq2seq.train, out=run_dir, **TINY)
    expect(RuntimeError, "nothing to resume", seq2seq.train, out=os.path.join(a.work, "fresh"), resume=True)

    def boom(row):
        raise ZeroDivisionError("the callback's own error")

    expect(ZeroDivisionError, "the callback's own error", seq2seq.train, out=out, progress=boom, log_every=1, **TINY)
    assert os.path.exists(os.path.join(out, "last.state.safetensors")), "a failing callback stops with a checkpoint"
    seen = []
    stopped = seq2seq.train(out=out, resume=True, progress=lambda row: seen.append(row) or len(seen) < 2, log_every=1,
                            quiet=True)  # False on the second row: stop, as Ctrl-C does
    assert os.path.exists(stopped) and len(seen) == 2, (stopped, len(seen))
    checked_calls = checked

    # --- the Translator still works, with the same results -----------------------------------------
    assert t.translate(["the cat sees the dog ."], beam=2) == good
    print(f"python_bad_input: {checked_calls} bad inputs raised clear exceptions; the interpreter and the Translator go on")


if __name__ == "__main__":
    sys.exit(main())
