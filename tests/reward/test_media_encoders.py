"""Image and audio responses through CLIP- and CLAP-style encoders (HPS v2, MusicRL): tiny randomly initialised
models built here with transformers (hub weights are not reachable), trained and evaluated through the CLI on
simulated preferences with a known rule; missing files and unloadable models are refused naming the row or option.
"""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest

from .conftest import run

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("PIL")

CHARS = "abcdefghijklmnopqrstuvwxyz"


def _bpe_files(d, vocab) -> tuple[str, str]:
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n")
    return str(d / "vocab.json"), str(d / "merges.txt")


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    import torch

    d = tmp_path_factory.mktemp("clip")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab |= {c: 2 + i for i, c in enumerate(CHARS)} | {c + "</w>": 28 + i for i, c in enumerate(CHARS)}
    tok = transformers.CLIPTokenizer(*_bpe_files(d, vocab))
    cfg = transformers.CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=64, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                           num_attention_heads=4),
        projection_dim=16,
    )
    torch.manual_seed(0)
    transformers.CLIPModel(cfg).save_pretrained(d)
    ip = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    transformers.CLIPProcessor(image_processor=ip, tokenizer=tok).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory):
    import torch

    d = tmp_path_factory.mktemp("clap")
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for c in CHARS:
        vocab[c] = len(vocab)
        vocab["\u0120" + c] = len(vocab)
    tok = transformers.RobertaTokenizer(*_bpe_files(d, vocab))
    cfg = transformers.ClapConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=80, projection_dim=16),
        audio_config=dict(spec_size=64, window_size=4, num_mel_bins=16, patch_stride=(4, 4), patch_size=4,
                          depths=[1, 1], num_attention_heads=[2, 2], hidden_size=32, patch_embeds_hidden_size=16,
                          enable_fusion=False, projection_dim=16),
        projection_dim=16,
    )
    torch.manual_seed(0)
    transformers.ClapModel(cfg).save_pretrained(d)
    fe = transformers.ClapFeatureExtractor(feature_size=16, sampling_rate=16000, hop_length=160, max_length_s=1,
                                           fft_window_size=1024, truncation="rand_trunc", frequency_min=50,
                                           frequency_max=8000)
    transformers.ClapProcessor(feature_extractor=fe, tokenizer=tok).save_pretrained(d)
    return d


def _image(path, rgb, rng) -> None:
    from PIL import Image

    px = np.clip(np.array(rgb, dtype=np.float64) + rng.normal(0, 40, (40, 48, 3)), 0, 255).astype("uint8")
    Image.fromarray(px).save(path)


def _tone(path, hz, noise, rng, sr=8000) -> None:
    t = np.arange(int(0.8 * sr)) / sr
    x = 0.5 * np.sin(2 * np.pi * hz * t + rng.uniform(0, 6.28)) + noise * rng.standard_normal(len(t))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def _write(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


WARM, COLD = (200, 90, 40), (40, 90, 200)


def _image_pairs(tmp_path, n, pick, seed) -> list[dict]:
    """``n`` rows ``{prompt, chosen, rejected}`` of fresh noisy images; ``pick(i)`` gives the prompt and the two
    colours."""
    rng = np.random.default_rng(seed)
    (tmp_path / "img").mkdir()
    rows = []
    for i in range(n):
        prompt, good, bad = pick(i)
        a, b = f"img/{i}a.png", f"img/{i}b.png"
        _image(tmp_path / a, good, rng)
        _image(tmp_path / b, bad, rng)
        rows.append({"prompt": prompt, "chosen": a, "rejected": b})
    return rows


def _cv(file, enc, capsys, cache, *extra) -> dict:
    code, out, err = run(["reward", "cv", str(file), "--encoder", enc, "--folds", "4", "--format", "json",
                          *extra, *cache], capsys)
    assert code == 0, err
    return json.loads(out)


def test_images_prompt_free_preference_is_learned_and_survives_save_and_load(tmp_path, clip_dir, capsys, cache):
    """Warm images beat cold ones whatever the prompt (an aesthetic rule): learned from random CLIP features."""
    rows = _image_pairs(tmp_path, 80, lambda i: (f"a picture number {i}", WARM, COLD), seed=0)
    data = tmp_path / "pairs.jsonl"
    _write(data, rows)
    res = _cv(data, f"clip:{clip_dir}", capsys, cache)
    assert res["accuracy"] >= 0.95
    rm = tmp_path / "rm"
    code, _, err = run(["reward", "train", str(data), "--encoder", f"clip:{clip_dir}", "--out", str(rm), *cache],
                       capsys)
    assert code == 0, err
    cfg = json.loads((rm / "config.json").read_text())
    assert cfg["encoder"]["backend"] == "clip"
    # a second file elsewhere, the same images by absolute path, evaluated by the reloaded model, no cache
    flipped = tmp_path / "flip.jsonl"
    _write(flipped, [{"prompt": r["prompt"], "chosen": str(tmp_path / r["rejected"]),
                      "rejected": str(tmp_path / r["chosen"])} for r in rows])
    code, out, err = run(["reward", "eval", str(rm), str(flipped), "--format", "json", "--no-cache"], capsys)
    assert code == 0, err
    assert json.loads(out)["accuracy"] <= 0.05


def test_prompt_image_agreement_needs_the_prompt(tmp_path, clip_dir, capsys, cache):
    """The image whose colour the prompt names wins (HPS-style alignment): only the prompt+response features,
    whose second block is a weighted prompt-image cosine, can learn it; response-only features stay at chance."""

    def named(i: int) -> tuple[str, tuple[int, int, int], tuple[int, int, int]]:
        tag = "".join(CHARS[int(d)] for d in str(i))  # distinct prompts, so that folds split by prompt
        return (f"warm {tag}", WARM, COLD) if i % 2 else (f"cold {tag}", COLD, WARM)

    rows = _image_pairs(tmp_path, 120, named, seed=1)
    data = tmp_path / "pairs.jsonl"
    _write(data, rows)
    joint = _cv(data, f"clip:{clip_dir}", capsys, cache, "--text", "prompt+response")
    alone = _cv(data, f"clip:{clip_dir}", capsys, cache, "--text", "response")
    assert joint["accuracy"] >= 0.9, joint
    assert alone["accuracy"] <= 0.65, alone


def test_audio_clean_tones_preferred_through_clap(tmp_path, clap_dir, capsys, cache):
    """Clean tones beat noisy ones of the same pitch (8 kHz WAV files, resampled to the extractor's 16 kHz)."""
    rng = np.random.default_rng(2)
    (tmp_path / "wav").mkdir()
    rows = []
    for i in range(120):
        lo, hi = f"wav/l{i}.wav", f"wav/h{i}.wav"
        hz = rng.uniform(150, 2000)
        _tone(tmp_path / lo, hz, 0.01, rng)
        _tone(tmp_path / hi, hz, 0.3, rng)
        rows.append({"chosen": lo, "rejected": hi})
    data = tmp_path / "pairs.jsonl"
    _write(data, rows)
    acc = _cv(data, f"clap:{clap_dir}", capsys, cache)["accuracy"]
    assert acc >= 0.9


def test_bad_media_inputs_are_refused_naming_the_row_or_option(tmp_path, clip_dir, clap_dir, capsys, cache):
    rng = np.random.default_rng(3)
    _image(tmp_path / "ok.png", (10, 20, 30), rng)
    _image(tmp_path / "ok2.png", (30, 20, 10), rng)
    data = tmp_path / "pairs.jsonl"
    _write(data, [{"chosen": "ok.png", "rejected": "ok2.png"}, {"chosen": "ok.png", "rejected": "missing.png"}])
    code, _, err = run(["reward", "train", str(data), "--encoder", f"clip:{clip_dir}", "--out",
                        str(tmp_path / "rm"), *cache], capsys)
    assert code == 2 and f"{data}:2:" in err and "image path does not exist" in err and "missing.png" in err
    assert not (tmp_path / "rm").exists()
    remote = tmp_path / "remote.jsonl"
    _write(remote, [{"chosen": "https://example.org/x.png", "rejected": "ok.png"}])
    code, _, err = run(["reward", "train", str(remote), "--encoder", f"clip:{clip_dir}", "--out",
                        str(tmp_path / "rm"), *cache], capsys)
    assert code == 2 and f"{remote}:1:" in err and "download" in err
    _write(data, [{"chosen": "ok.png", "rejected": "ok2.png"}] * 3)
    for enc, msg in [(f"clip:{tmp_path / 'nope'}", "cannot load a CLIP model"), ("clip:", "give clip:DIR"),
                     (f"clap:{clap_dir}", "embeds audio files")]:
        code, _, err = run(["reward", "train", str(data), "--encoder", enc, "--out", str(tmp_path / "rm"),
                            *cache], capsys)
        assert code == 2 and msg in err and "Traceback" not in err, (enc, err)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    _write(data, [{"chosen": "broken.png", "rejected": "ok.png"}])
    code, _, err = run(["reward", "train", str(data), "--encoder", f"clip:{clip_dir}", "--out",
                        str(tmp_path / "rm"), *cache], capsys)
    assert code == 2 and "not a readable image" in err


def test_a_model_directory_given_relative_is_stored_absolute(tmp_path, clip_dir, capsys, cache, monkeypatch):
    """`--encoder clip:models/x` from one folder; the saved model is evaluated from another."""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(clip_dir, work / "models" / "clip")
    rows = _image_pairs(work, 30, lambda i: (f"p {i}", WARM, COLD), seed=4)
    _write(work / "pairs.jsonl", rows)
    monkeypatch.chdir(work)
    code, _, err = run(["reward", "train", "pairs.jsonl", "--encoder", "clip:models/clip", "--out", "rm", *cache],
                       capsys)
    assert code == 0, err
    stored = json.loads((work / "rm" / "config.json").read_text())["encoder"]["model"]
    assert stored == str(work / "models" / "clip")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["reward", "eval", str(work / "rm"), str(work / "pairs.jsonl"), "--format", "json",
                          "--no-cache"], capsys)
    assert code == 0, err
    assert json.loads(out)["accuracy"] >= 0.9
