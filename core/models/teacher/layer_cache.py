"""Frozen-bottom training for the teacher: compute the bottom layers once, replay them every epoch.

With ``TeacherConfig.freeze_layers = K`` the bottom K transformer layers get no adapter, so their
output for a given pair never changes during training. ``LayerCache`` runs the model once per pair up
to the input of layer K (stopping there), keeps each pair's hidden states (real tokens only, fp32), and
during training swaps the bottom K layers for pass-throughs and feeds the kept states into layer K.
An epoch then costs the top layers' forward and backward only, and dev evaluation the top layers'
forward; on 2 CPU cores that is what turns one affordable epoch into several. The saved adapter is an
ordinary one: inference runs the whole model and gets the same logits (tested within tolerance).

Replay needs right padding (encoders, and decoders as ``prepare_tokenizer`` sets them), and eval-mode
bottom layers (their dropout is off while caching; the top layers train with theirs).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from core.errors import InvalidInputError


class _Stop(Exception):
    """Raised by the capture hook: nothing above layer K is needed while caching."""


def find_layers(model):
    """``(prefix, ModuleList)`` of the model's stack of transformer layers (BERT-style ``encoder.layer``,
    decoder ``layers``); for a peft model the prefix is the wrapped module's name."""
    import torch

    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    found = [(name, m) for name, m in model.named_modules()
             if isinstance(m, torch.nn.ModuleList) and re.search(r"(^|\.)(layer|layers)$", name)
             and (n is None or len(m) == n)]
    if not found:
        raise InvalidInputError(f"found no stack of {n} transformer layers in {type(model).__name__}")
    return found[0]


def frozen_split(model, k: int):
    """``find_layers(model)`` after checking that its bottom ``k`` layers can be frozen and replayed."""
    if getattr(model.config, "is_encoder_decoder", False):
        raise InvalidInputError("freeze_layers works for encoder and decoder backbones, not encoder-decoders (T5's first "
                         "layer computes the position bias that the layers above it reuse)")
    prefix, layers = find_layers(model)
    if not 0 < k < len(layers):
        raise InvalidInputError(f"freeze_layers must be between 1 and {len(layers) - 1} for this model; got {k}")
    return prefix, layers


def lora_targets(model, targets: tuple[str, ...] | str, from_layer: int) -> list[str]:
    """Full names of the modules that ``targets`` (peft ``target_modules``: suffixes or one regex) picks,
    keeping only those in layers ``from_layer`` and up: the adapter of a frozen-bottom teacher."""
    prefix, layers = frozen_split(model, from_layer)
    top = tuple(f"{prefix}.{i}." for i in range(from_layer, len(layers)))
    names = []
    for name, _ in model.named_modules():
        hit = (re.fullmatch(targets, name) is not None if isinstance(targets, str)
               else any(name == t or name.endswith("." + t) for t in targets))
        if hit and name.startswith(top):
            names.append(name)
    if not names:
        raise InvalidInputError(f"no LoRA target above layer {from_layer}")
    return names


def _skip_layer(tuple_len: int):
    """A module that stands in for a bottom layer during replay: returns the hidden states it was given,
    in the layer's own output structure (a tensor, or a tuple whose first item is the hidden states)."""
    import torch

    class Skip(torch.nn.Module):
        def forward(self, hidden_states, *args, **kwargs):
            return hidden_states if tuple_len == 0 else (hidden_states,) + (None,) * (tuple_len - 1)

    return Skip()


class LayerCache:
    """Hidden states at the input of layer ``k`` for each key (one key per (query, product) pair)."""

    def __init__(self, model, k: int):
        self.model, self.k = model, k
        self.prefix, self.layers = frozen_split(model, k)
        self.states: dict[Hashable, object] = {}
        self._tuple_len = 0

    def attach(self, model) -> LayerCache:
        """Serve ``model`` (a fresh copy of the same backbone with the same bottom layers, e.g. the next
        cross-validation fold) with the states kept so far; returns self."""
        self.model = model
        self.prefix, self.layers = frozen_split(model, self.k)
        return self

    def __contains__(self, key: Hashable) -> bool:
        return key in self.states

    @staticmethod
    def _valid_lengths(mask) -> np.ndarray:
        m = mask.cpu().numpy().astype(bool)
        lengths = m.sum(1)
        if not all(m[r, :n].all() for r, n in enumerate(lengths)):
            raise InvalidInputError("the layer cache needs right padding (real tokens first)")
        return lengths

    def fill(self, keys: Sequence[Hashable], batch) -> None:
        """Run the bottom ``k`` layers on ``batch`` (tokenizer output for ``keys``) and keep the states."""
        import torch

        got = {}

        def capture(module, args, kwargs):
            got["h"] = args[0] if args else kwargs["hidden_states"]
            raise _Stop

        def shape(module, args, output):
            self._tuple_len = len(output) if isinstance(output, tuple) else 0

        hooks = [self.layers[self.k].register_forward_pre_hook(capture, with_kwargs=True),
                 self.layers[self.k - 1].register_forward_hook(shape)]
        was_training = self.model.training
        self.model.eval()
        dev = next(self.model.parameters()).device
        try:
            with torch.no_grad():  # not inference_mode: the kept states are replayed under autograd
                self.model(**{name: v.to(dev) for name, v in batch.items()})
        except _Stop:
            pass
        finally:
            for h in hooks:
                h.remove()
            self.model.train(was_training)
        h = got["h"].float().cpu()
        for r, (key, n) in enumerate(zip(keys, self._valid_lengths(batch["attention_mask"]))):
            self.states[key] = h[r, :n].clone()

    @contextmanager
    def replay(self, keys: Sequence[Hashable], batch) -> Iterator[None]:
        """Within the block, a forward of ``batch`` skips the bottom layers and starts layer ``k`` from the
        kept states of ``keys`` (padding positions are zeros; the attention mask hides them)."""
        import torch

        lengths = self._valid_lengths(batch["attention_mask"])
        first = self.states[keys[0]]
        dev = next(self.model.parameters()).device
        h = torch.zeros(len(keys), batch["attention_mask"].shape[1], first.shape[-1])
        for r, (key, n) in enumerate(zip(keys, lengths)):
            s = self.states[key]
            if s.shape[0] != n:
                raise InvalidInputError(f"cached states of {key!r} have {s.shape[0]} tokens, the batch has {n}")
            h[r, :n] = s
        h = h.to(dev)

        def feed(module, args, kwargs):
            hs = h.to(args[0].dtype if args else kwargs["hidden_states"].dtype)
            if args:
                return (hs,) + tuple(args[1:]), kwargs
            return args, {**kwargs, "hidden_states": hs}

        bottom = [self.layers[i] for i in range(self.k)]
        for i in range(self.k):
            self.layers[i] = _skip_layer(self._tuple_len)
        hook = self.layers[self.k].register_forward_pre_hook(feed, with_kwargs=True)
        try:
            yield
        finally:
            hook.remove()
            for i, layer in enumerate(bottom):
                self.layers[i] = layer
