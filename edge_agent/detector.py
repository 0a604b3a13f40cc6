"""ONNX Runtime adapter: runs a detector described by a model spec file on BGR frames.

The spec (``models/<name>.yaml``) states the input name and size, colour order,
normalisation, resize kind, output layout and labels, so the pipeline hard-codes no
model family. The output layout selects a decoder from ``edge_agent.core.decoding``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge_agent.core.decoding import DecoderParams, known_layouts, make_decoder
from edge_agent.core.detection import Detection
from edge_agent.core.letterbox import PreparedInput, Preprocessor, ResizeKind
from edge_agent.core.nms import batched_nms
from edge_agent.threads import AUTO, ThreadCount, resolve_thread_count
from metro_common.assets import PROJECT_ROOT, asset_path

log = logging.getLogger(__name__)

MODELS_DIR = PROJECT_ROOT / "models"
DEFAULT_SPEC = MODELS_DIR / "yolox_nano.yaml"
DEFAULT_THREADS: ThreadCount = AUTO


def session_options(threads: int) -> Any:
    """Build the ONNX Runtime session options of every detector, with ``threads`` intra-op threads.

    The benchmarks build their bare comparison sessions from this too, so both run alike.
    """
    import onnxruntime as ort  # imported here so config-only code never loads it

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


class DetectorError(RuntimeError):
    """A model spec or model file that cannot be loaded or run."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Spec):
    name: str = Field(description="Name of the model's image input")
    width: int = Field(gt=0, description="Input width, pixels")
    height: int = Field(gt=0, description="Input height, pixels")
    colour_order: Literal["bgr", "rgb"] = Field(description="Channel order the model expects")
    scale: float = Field(1.0, description="Factor applied to 0-255 pixels before mean/std")
    mean: tuple[float, float, float] = Field((0.0, 0.0, 0.0), description="Per-channel mean subtracted after scaling")
    std: tuple[float, float, float] = Field((1.0, 1.0, 1.0), description="Per-channel divisor applied last")
    resize: ResizeKind = Field(description="How frames are fitted into the input")
    pad_value: int = Field(114, ge=0, le=255, description="Grey level of letterbox padding")


class OutputSpec(_Spec):
    layout: str = Field(description="Decoder name, e.g. yolox_grid")
    strides: tuple[int, ...] = Field((), description="Grid strides of the output rows, pixels")


class ModelSpec(_Spec):
    """How to feed a model and decode its output."""

    name: str
    file: str = Field(description="Weights file name, as listed in models/manifest.yaml")
    input: InputSpec
    output: OutputSpec
    score_threshold: float = Field(ge=0.0, le=1.0, description="Minimum score kept after decoding")
    nms_iou: float = Field(ge=0.0, le=1.0, description="IoU above which per-class NMS drops a box")
    labels: tuple[str, ...] = Field(min_length=1, description="Class names in output index order")

    @model_validator(mode="after")
    def _check_layout(self) -> ModelSpec:
        if self.output.layout not in known_layouts():
            raise ValueError(f"output.layout {self.output.layout!r} is unknown; known layouts: {known_layouts()}")
        return self

    @classmethod
    def load(cls, path: Path) -> ModelSpec:
        """Read a spec file or raise DetectorError naming the file and the problem."""
        try:
            data: Any = yaml.safe_load(path.read_text())
            return cls.model_validate(data)
        except OSError as exc:
            raise DetectorError(f"cannot read model spec {path}: {exc}") from exc
        except (yaml.YAMLError, ValidationError) as exc:
            raise DetectorError(f"invalid model spec {path}: {exc}") from exc


class Detector:
    """One ONNX Runtime session plus the spec's pre- and post-processing.

    Not thread-safe: its buffers are reused between calls, so give each thread its own
    Detector (or serialise calls).
    """

    def __init__(self, spec: ModelSpec, model_path: Path, threads: ThreadCount = DEFAULT_THREADS) -> None:
        """``threads`` is the intra-op thread count, or "auto" for one per CPU core less one."""
        import onnxruntime as ort  # imported here so config-only code never loads it

        try:
            thread_count = resolve_thread_count(threads)
        except ValueError as exc:
            raise DetectorError(str(exc)) from exc
        if not model_path.is_file():
            raise DetectorError(f"model file {model_path} not found; run 'metro-edge assets fetch'")
        try:
            self._session = ort.InferenceSession(
                str(model_path), session_options(thread_count), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise DetectorError(f"cannot load model {model_path}: {exc}") from exc
        inputs = [item.name for item in self._session.get_inputs()]
        if spec.input.name not in inputs:
            raise DetectorError(f"model {model_path} has inputs {inputs}, but spec {spec.name} names {spec.input.name!r}")

        self.spec = spec
        self.model_path = model_path
        self.threads = thread_count
        self.labels = spec.labels
        self.calls = 0
        self.last_inference_ms: float | None = None
        self._preprocess = self._make_preprocessor()
        self._decode = make_decoder(
            spec.output.layout,
            DecoderParams(spec.input.width, spec.input.height, len(spec.labels), spec.output.strides),
        )
        log.info("loaded %s from %s with %d threads (%s requested)", spec.name, model_path, thread_count, threads)

    @classmethod
    def from_spec_file(
        cls, spec_path: Path = DEFAULT_SPEC, model_path: Path | None = None, threads: ThreadCount = DEFAULT_THREADS
    ) -> Detector:
        """Build a detector; without ``model_path`` the verified asset named by the spec is used."""
        spec = ModelSpec.load(spec_path)
        return cls(spec, model_path or asset_path(spec.file), threads)

    def _make_preprocessor(self) -> Preprocessor:
        spec = self.spec
        return Preprocessor(
            spec.input.width,
            spec.input.height,
            kind=spec.input.resize,
            pad_value=spec.input.pad_value,
            rgb=spec.input.colour_order == "rgb",
            scale=spec.input.scale,
            mean=spec.input.mean,
            std=spec.input.std,
        )

    def make_preparer(self) -> Callable[[npt.NDArray[np.uint8]], PreparedInput]:
        """Return a function that letterboxes a BGR frame into a new input tensor.

        The function has its own buffers, so one other thread may call it while this
        detector runs inference; ``detect_prepared`` then takes its results.
        """
        preprocess = self._make_preprocessor()
        shape = (1, 3, self.spec.input.height, self.spec.input.width)

        def prepare(frame_bgr: npt.NDArray[np.uint8]) -> PreparedInput:
            tensor, info = preprocess(frame_bgr, out=np.empty(shape, dtype=np.float32))
            return PreparedInput(tensor, info)

        return prepare

    def detect(self, frame_bgr: npt.NDArray[np.uint8]) -> list[Detection]:
        """Detect objects in one BGR frame; boxes are in the frame's pixels, best score first."""
        tensor, info = self._preprocess(frame_bgr)
        return self.detect_prepared(PreparedInput(tensor, info))

    def detect_prepared(self, prepared: PreparedInput) -> list[Detection]:
        """Detect objects in a frame already letterboxed by ``make_preparer`` (or ``detect``)."""
        tensor, info = prepared.tensor, prepared.info
        started = time.perf_counter()
        outputs = self._session.run(None, {self.spec.input.name: tensor})
        self.last_inference_ms = (time.perf_counter() - started) * 1000.0
        self.calls += 1

        candidates = self._decode(outputs, info, self.spec.score_threshold)
        if len(candidates) == 0:
            return []
        keep = batched_nms(candidates.boxes_xyxy, candidates.scores, candidates.class_ids, self.spec.nms_iou)
        kept = candidates.take(keep)
        return [
            Detection(
                xyxy=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                confidence=min(1.0, float(score)),
                class_id=int(class_id),
                label=self.labels[int(class_id)],
            )
            for box, score, class_id in zip(kept.boxes_xyxy, kept.scores, kept.class_ids, strict=True)
        ]
