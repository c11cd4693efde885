"""An encoder given by import path trains, is stored in the model, and is rebuilt on load; bad paths are
refused naming --encoder."""

from __future__ import annotations

import json

import pytest

from .conftest import run

MODULE = """
import numpy as np

class Letters:
    name = "letters:26"

    def encode(self, texts, progress=None):
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1.0
        return out

def make():
    return Letters()

def broken():
    return object()
"""


def _pairs(path):
    recs = [{"chosen": f"zzz yes {i}", "rejected": f"aaa no {i}"} for i in range(60)]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_import_encoder_survives_save_and_load(tmp_path, monkeypatch, capsys, cache) -> None:
    pytest.importorskip("torch")
    (tmp_path / "crit_letters_enc.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = tmp_path / "p.jsonl"
    _pairs(data)
    rm = tmp_path / "rm"
    code, _, err = run(
        ["reward", "train", str(data), "--out", str(rm), "--encoder", "import:crit_letters_enc:make", *cache],
        capsys,
    )
    assert code == 0, err
    cfg = json.loads((rm / "config.json").read_text())
    assert cfg["encoder"]["backend"] == "import" and cfg["encoder"]["model"] == "crit_letters_enc:make"
    code, out, err = run(["reward", "eval", str(rm), str(data), "--format", "json", *cache], capsys)
    assert code == 0 and json.loads(out)["accuracy"] == 1.0  # 'z' vs 'a' separates every pair


@pytest.mark.parametrize(
    ("spec", "msg"),
    [
        ("import:no_such_module_xyz:make", "cannot import it"),
        ("import:crit_letters_enc:nothing", "cannot import it"),
        ("import:crit_letters_enc", "give import:MODULE:FACTORY"),
        ("import:crit_letters_enc:broken", "must return an object"),
    ],
)
def test_bad_import_encoder(tmp_path, monkeypatch, capsys, cache, spec, msg) -> None:
    (tmp_path / "crit_letters_enc.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = tmp_path / "p.jsonl"
    _pairs(data)
    code, _, err = run(
        ["reward", "train", str(data), "--out", str(tmp_path / "rm"), "--encoder", spec, *cache], capsys
    )
    assert code == 2 and "--encoder" in err and msg in err
