"""The teachers: a cross-encoder (5-class LoRA fine-tuning, batched scoring) or the feature prior + a fine-tuned e5
bi-encoder.

``config`` (TeacherConfig, the dev split, the artifact folder), ``encoding`` (pairs as model inputs),
``priors`` (bi-encoder and feature priors added to the logits), ``model`` (``Teacher``: load and score;
``load_teacher`` picks the artifact's kind), ``train`` (``train_teacher``), ``backbones`` (the base models) and
``layer_cache`` (frozen bottom layers computed once). The bi-encoder teacher (no cross-encoder: the feature prior
plus a fine-tuned e5 cosine): ``biencoder`` (the trainable e5), ``bienc_model`` (``BiEncoderTeacher``) and
``bienc_train`` (``train_biencoder_teacher``). Importing this package loads no torch; loading or training a teacher
does.
"""

from core.models.teacher.config import ARTIFACT_FORMAT, SELECTIONS, TeacherConfig, split_queries
from core.models.teacher.encoding import DECODER_PROMPT, PairEncoder
from core.models.teacher.model import Teacher, load_teacher
from core.models.teacher.priors import PRIORS, CosinePrior, FeaturePrior, make_prior
from core.models.teacher.train import (TrainResult, batches, dev_metrics, pairwise_rank_loss, save_adapter,
                                       selection_score, train_teacher)

__all__ = ["ARTIFACT_FORMAT", "DECODER_PROMPT", "PRIORS", "SELECTIONS", "CosinePrior", "FeaturePrior", "PairEncoder",
           "Teacher", "TeacherConfig", "load_teacher", "TrainResult", "batches", "dev_metrics", "make_prior",
           "pairwise_rank_loss", "save_adapter", "selection_score", "split_queries", "train_teacher"]
