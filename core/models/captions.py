"""Image captions for products with BLIP (DESIGN.md, "Core objects": ``caption`` is generated).

The caption is one of the pin-text fields (``core.text``, "image"), so a product whose ``image`` shows
what its title leaves out reads better to the teacher once captioned.

Captions are **off by default for the offline demo**: its ``image`` fields are remote URLs, and nothing
here downloads anything (no hub names; ``local_files_only=True``). To turn them on, put a BLIP
captioning model (e.g. a saved ``Salesforce/blip-image-captioning-base``: ``config.json``, the weights,
the processor and tokenizer files) in a local folder, and point products' ``image`` at local files::

    from core.models.captions import Captioner, fill_captions, local_image
    captioner = Captioner("/models/blip-base")           # CUDA when available
    products, counts = fill_captions(catalog.products, captioner, local_image)
    print(counts)   # CaptionCounts(filled=..., kept=..., remote=..., ...)

Only empty captions are filled; existing ones are never touched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core.catalog import text_column
from core.errors import InvalidInputError
from core.models.teacher.backbones import device as best_device

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
REMOTE_PREFIXES = ("http://", "https://", "s3://", "gs://", "ftp://")
_OFF_BY_DEFAULT = ("captions are off by default for the offline demo (its images are remote URLs); to turn them "
                   "on, pass a local folder holding a BLIP captioning model saved with save_pretrained")

ImageLoader = Callable[[str], "Image.Image | None"]  # a product's image field -> the image, or None


def check_blip_folder(path: str | Path) -> Path:
    """The folder as a Path; raises FileNotFoundError / ValueError naming it when it holds no BLIP model."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"BLIP folder {str(folder)!r} does not exist; {_OFF_BY_DEFAULT}")
    config = folder / "config.json"
    if not config.is_file():
        raise InvalidInputError(f"{str(folder)!r} has no config.json, so it is not a saved BLIP model; {_OFF_BY_DEFAULT}")
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except (ValueError, AttributeError) as exc:
        raise InvalidInputError(f"{str(config)!r} is not a transformers config ({exc}); {_OFF_BY_DEFAULT}") from None
    if model_type != "blip":
        raise InvalidInputError(f"{str(folder)!r} holds a {model_type!r} model, expected 'blip' "
                         f"(BlipForConditionalGeneration); {_OFF_BY_DEFAULT}")
    if not any((folder / f).is_file() for f in WEIGHT_FILES):
        raise InvalidInputError(f"{str(folder)!r} has a BLIP config.json but no weights (expected one of "
                         f"{', '.join(WEIGHT_FILES)}); {_OFF_BY_DEFAULT}")
    return folder


class Captioner:
    """A BLIP captioning model and its processor, loaded once from a local folder.

    Args:
        path: folder saved with ``save_pretrained`` (model, processor and tokenizer).
        device: ``cuda`` or ``cpu``; default CUDA when available.
        batch_size: images per forward pass.
        max_new_tokens: longest caption in tokens.
    """

    def __init__(self, path: str | Path, device: str | None = None, batch_size: int = 8, max_new_tokens: int = 20):
        from transformers import AutoProcessor, BlipForConditionalGeneration

        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        self.path = check_blip_folder(path)
        self.device = device or best_device()
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        try:
            self.processor = AutoProcessor.from_pretrained(self.path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"{str(self.path)!r} has BLIP weights but no usable processor/tokenizer files "
                             f"({exc}); save the processor with save_pretrained too; {_OFF_BY_DEFAULT}") from exc
        self.model = BlipForConditionalGeneration.from_pretrained(self.path, local_files_only=True)
        self.model.to(self.device).eval()

    def caption_images(self, images: list[Image.Image]) -> list[str]:
        """One caption per PIL image, in order (greedy decoding, ``batch_size`` images at a time)."""
        import torch

        out: list[str] = []
        with torch.inference_mode():
            for i in range(0, len(images), self.batch_size):
                batch = [im if im.mode == "RGB" else im.convert("RGB") for im in images[i:i + self.batch_size]]
                inputs = self.processor(images=batch, return_tensors="pt").to(self.device)
                ids = self.model.generate(pixel_values=inputs["pixel_values"], max_new_tokens=self.max_new_tokens,
                                          do_sample=False, num_beams=1)
                out += [" ".join(t.split()) for t in self.processor.batch_decode(ids, skip_special_tokens=True)]
        return out


def is_remote(image: str) -> bool:
    """Whether an ``image`` field is a URL the offline app cannot fetch."""
    return image.strip().lower().startswith(REMOTE_PREFIXES)


def local_image(image: str) -> Image.Image | None:
    """The default image loader: the local file as an RGB PIL image; None when it is missing or unreadable."""
    from PIL import Image, UnidentifiedImageError

    path = Path(image.removeprefix("file://")).expanduser()
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError):
        return None


@dataclass(frozen=True)
class CaptionCounts:
    """What ``fill_captions`` did with each product."""

    filled: int = 0       # empty caption, image loaded: captioned
    kept: int = 0         # already had a caption: untouched
    no_image: int = 0     # empty caption and no image field
    remote: int = 0       # image is a remote URL: skipped (the offline app cannot fetch it)
    unloadable: int = 0   # the loader returned None (missing or unreadable file)
    blank: int = 0        # the model returned an empty caption: left empty


def fill_captions(products: pd.DataFrame, captioner: Captioner, image_loader: ImageLoader = local_image,
                  *, progress: bool = True) -> tuple[pd.DataFrame, CaptionCounts]:
    """Fill the ``caption`` of products whose caption is empty and whose ``image`` can be loaded.

    Args:
        products: product rows with an ``image`` column (a ``caption`` column is added when missing).
        captioner: anything with ``caption_images(list[PIL.Image]) -> list[str]`` and ``batch_size``.
        image_loader: ``image`` field -> PIL image or None; remote URLs are skipped before it is called.
        progress: show a tqdm progress bar.

    Returns:
        a copy of ``products`` with the new captions, and the counts.
    """
    from tqdm.auto import tqdm

    out = products.copy()
    if "caption" not in out.columns or pd.api.types.is_numeric_dtype(out["caption"]):  # e.g. all NaN
        out["caption"] = out["caption"].astype(object) if "caption" in out.columns else None
    has_caption = text_column(out, "caption") != ""
    images = text_column(out, "image")
    no_image = ~has_caption & (images == "")
    remote = ~has_caption & ~no_image & images.map(is_remote)
    todo = (~has_caption & ~no_image & ~remote).to_numpy().nonzero()[0]
    col = out.columns.get_loc("caption")
    filled = blank = unloadable = 0
    step = max(1, int(getattr(captioner, "batch_size", 8)))
    with tqdm(total=len(todo), desc="captions", unit="product", disable=not progress, leave=False) as bar:
        for start in range(0, len(todo), step):
            loaded = []
            for pos in todo[start:start + step]:
                image = image_loader(str(out["image"].iat[pos]).strip())
                if image is None:
                    unloadable += 1
                else:
                    loaded.append((pos, image))
            captions = captioner.caption_images([im for _, im in loaded]) if loaded else []
            for (pos, _), caption in zip(loaded, captions, strict=True):
                if caption.strip():
                    out.iat[pos, col] = caption
                    filled += 1
                else:
                    blank += 1
            bar.update(len(todo[start:start + step]))
    counts = CaptionCounts(filled=filled, kept=int(has_caption.sum()), no_image=int(no_image.sum()),
                           remote=int(remote.sum()), unloadable=unloadable, blank=blank)
    if counts.remote:
        log.info("captions: skipped %d product(s) with remote image URLs (the offline app cannot fetch them)",
                 counts.remote)
    return out, counts
