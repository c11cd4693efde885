"""``--head finetune``: the packaged MiniLM encoder fine-tuned end to end with the Bradley-Terry loss.

Prompt and response are encoded together (the texts the pipeline renders, ``--text prompt+response``), as
TRL's ``RewardTrainer`` does with bigger models. The encoder gets low-rank adapters (LoRA, plain torch: ``W x +
(alpha / rank) B A x`` on the query and value projections of every attention layer, ``B`` starting at zero),
and the reward is a linear head on the mean-pooled, L2-normalised sentence embedding - the same embedding the
other heads see - so training starts from the linear Bradley-Terry probe on the frozen embeddings (fitted
first, by L-BFGS) and fine-tuning can only move on from there. ``rank=0`` trains the head alone;
``train_layers=k`` also trains the top ``k`` transformer layers in full.

Saved state: the trainable parameters as one flat float32 vector (``adapter_``); the frozen encoder is
rebuilt from the ``model`` parameter (the packaged MiniLM by default) when a saved model is loaded.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from prefkit._optional import require
from prefkit.errors import ValidationError
from prefkit.reward.base import RewardHead
from prefkit.reward.pairs import PairFeatures


class FinetuneHead(RewardHead):
    """MiniLM + low-rank adapters + a linear reward head, trained on pair texts with the BT loss."""

    kind = "finetune"
    needs_text = True

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        rank: int = 8,
        alpha: float = 16.0,
        train_layers: int = 0,
        epochs: int = 1,
        lr: float = 3e-4,
        head_lr: float = 1e-3,
        batch_size: int = 16,
        max_length: int = 256,
        l2: float = 1e-2,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.rank = rank
        self.alpha = alpha
        self.train_layers = train_layers
        self.epochs = epochs
        self.lr = lr
        self.head_lr = head_lr
        self.batch_size = batch_size
        self.max_length = max_length
        self.l2 = l2
        self.seed = seed
        self._net: Any = None
        self._tok: Any = None
        self._loaded_state = False

    # ---- the network ------------------------------------------------------------------------------------

    def _check(self) -> None:
        if self.rank < 0 or self.train_layers < 0 or self.epochs < 0 or self.batch_size < 1:
            raise ValidationError(
                "finetune: rank, train_layers and epochs must be >= 0 and batch_size >= 1; got "
                f"rank={self.rank}, train_layers={self.train_layers}, epochs={self.epochs}, "
                f"batch_size={self.batch_size}"
            )
        if self.max_length < 8:
            raise ValidationError(f"finetune: max_length must be >= 8 tokens; got {self.max_length}")

    def _build(self) -> Any:
        if self._net is not None:
            return self._net
        self._check()
        torch = require("torch")
        transformers = require("transformers", extra="reward")
        from prefkit.reward.encoders import _DEFAULT_ALIASES, default_model_path

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            transformers.utils.logging.disable_progress_bar()
        except AttributeError:  # pragma: no cover
            pass
        path = default_model_path() if self.model.lower() in _DEFAULT_ALIASES else self.model
        try:
            self._tok = transformers.AutoTokenizer.from_pretrained(path)
            base = transformers.AutoModel.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise ValidationError(
                f"finetune: cannot load the encoder {self.model!r} ({exc}); give a local Hugging Face model "
                "directory (the default is the packaged all-MiniLM-L6-v2)"
            ) from None
        torch.manual_seed(self.seed)
        base.eval()  # no dropout: the BT loss on few pairs is noisy enough
        for p in base.parameters():
            p.requires_grad_(False)
        trainable: list[Any] = []
        layers = _layers(base)
        if self.rank > 0:
            for layer in layers:
                att = layer.attention.self
                for nm in ("query", "value"):
                    lora = _LoRA(getattr(att, nm), self.rank, self.alpha, torch)
                    setattr(att, nm, lora)
                    trainable += [lora.A, lora.B]
        for layer in layers[len(layers) - min(self.train_layers, len(layers)) :]:
            for p in layer.parameters():
                if not p.requires_grad:
                    p.requires_grad_(True)
                    trainable.append(p)
        dim = int(base.config.hidden_size)
        w = torch.nn.Parameter(torch.zeros(dim))
        b = torch.nn.Parameter(torch.zeros(()))
        self._net = (base, w, b, trainable + [w, b])
        return self._net

    def _params(self) -> list[Any]:
        return list(self._build()[3])

    def _pooled(self, texts: list[str]) -> Any:
        torch = require("torch")
        base = self._build()[0]
        enc = self._tok(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        out = base(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(out.dtype)
        pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def _scores(self, texts: list[str]) -> Any:
        _, w, b, _ = self._build()
        return self._pooled(texts) @ w + b

    def _ensure_state(self) -> None:
        """Load ``adapter_`` (a saved model's trainable parameters) into a freshly built network."""
        if self._loaded_state:
            return
        flat = getattr(self, "adapter_", None)
        if flat is None:
            raise ValidationError("finetune head is not fitted")
        torch = require("torch")
        params = self._params()
        need = sum(p.numel() for p in params)
        if len(flat) != need:
            raise ValidationError(
                f"finetune: the saved adapter has {len(flat)} values but rank={self.rank}, "
                f"train_layers={self.train_layers} on {self.model!r} needs {need}; the model files do not match"
            )
        with torch.no_grad():
            off = 0
            for p in params:
                k = p.numel()
                p.copy_(torch.from_numpy(np.asarray(flat[off : off + k], dtype=np.float32)).view_as(p))
                off += k
        self._loaded_state = True

    def _store_state(self) -> None:
        self.adapter_ = np.concatenate(
            [p.detach().reshape(-1).float().numpy() for p in self._params()]
        ).astype(np.float32)
        self._loaded_state = True

    # ---- fitting ------------------------------------------------------------------------------------------

    def fit(self, pairs: PairFeatures, progress: Any = None) -> FinetuneHead:
        """Linear BT probe on the frozen embeddings (``pairs.xc - pairs.xr``), then ``epochs`` of Adam on the
        BT loss through the adapters. ``progress(k)`` is called after each batch of k pairs."""
        torch = require("torch")
        if pairs.text_c is None or pairs.text_r is None:
            raise ValidationError("the finetune head trains on texts; build the pairs with their texts")
        from prefkit.reward.bt import BradleyTerryHead

        self._check()
        t0 = time.perf_counter()
        _, w, b, _ = self._build()
        probe = BradleyTerryHead(l2=self.l2).fit(pairs)
        with torch.no_grad():
            w.copy_(torch.from_numpy(np.asarray(probe.coef_, dtype=np.float32).reshape(-1)))
        self._loaded_state = True
        n = len(pairs)
        if self.epochs > 0:
            params = self._params()
            head_ids = {id(w), id(b)}
            groups = [
                {"params": [p for p in params if id(p) not in head_ids], "lr": self.lr},
                {"params": [w, b], "lr": self.head_lr},
            ]
            opt = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=0.0)
            gen = np.random.default_rng(self.seed)
            weight = torch.from_numpy(np.asarray(pairs.weight, dtype=np.float32))
            tc, tr = list(pairs.text_c), list(pairs.text_r)
            for _ in range(self.epochs):
                order = gen.permutation(n)
                for lo in range(0, n, self.batch_size):
                    idx = order[lo : lo + self.batch_size]
                    s = self._scores([tc[i] for i in idx] + [tr[i] for i in idx])
                    m = s[: len(idx)] - s[len(idx) :]
                    wt = weight[idx]
                    loss = -(torch.nn.functional.logsigmoid(m) * wt).sum() / wt.sum()
                    loss = loss + self.l2 * (w * w).sum()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    if progress is not None:
                        progress(len(idx))
        self._store_state()
        self.fit_seconds_ = float(time.perf_counter() - t0)
        self.n_trainable_ = int(sum(p.numel() for p in self._params()))
        return self

    # ---- scoring --------------------------------------------------------------------------------------------

    def reward_texts(self, texts: Any, batch_size: int = 64) -> np.ndarray:
        torch = require("torch")
        self._ensure_state()
        texts = [str(t) for t in texts]
        out = np.zeros(len(texts), dtype=np.float64)
        order = np.argsort([len(t) for t in texts])
        with torch.no_grad():
            for lo in range(0, len(texts), batch_size):
                idx = order[lo : lo + batch_size]
                out[idx] = self._scores([texts[i] for i in idx]).double().numpy()
        return out

    def reward(
        self,
        x: np.ndarray,
        ctx: np.ndarray | None = None,
        annotator: np.ndarray | None = None,
        verbosity: np.ndarray | None = None,
    ) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != object and x.dtype.kind not in "US":
            raise ValidationError(
                "the finetune head scores texts (prompt and response together), not embeddings"
            )
        return self.reward_texts(x)

    def margins(self, pairs: PairFeatures) -> np.ndarray:
        if pairs.text_c is None or pairs.text_r is None:
            raise ValidationError("the finetune head scores texts; build the pairs with their texts")
        r = self.reward_texts(np.concatenate([pairs.text_c, pairs.text_r]))
        return r[: len(pairs)] - r[len(pairs) :]


class _LoRA:
    """A frozen ``nn.Linear`` plus a trainable low-rank update (built lazily as a torch Module)."""

    def __new__(cls, base: Any, rank: int, alpha: float, torch: Any) -> Any:  # type: ignore[misc]
        class LoRALinear(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.base = base
                self.A = torch.nn.Parameter(torch.randn(rank, base.in_features) / np.sqrt(base.in_features))
                self.B = torch.nn.Parameter(torch.zeros(base.out_features, rank))
                self.scale = alpha / rank

            def forward(self, x: Any) -> Any:
                return self.base(x) + (x @ self.A.T @ self.B.T) * self.scale

        return LoRALinear()


def _layers(base: Any) -> list[Any]:
    enc = getattr(base, "encoder", None)
    layers = getattr(enc, "layer", None)
    if layers is None:
        raise ValidationError(
            "finetune: the encoder is not a BERT-style model (model.encoder.layer); use a sentence-transformers "
            "BERT / MiniLM directory"
        )
    return list(layers)
