"""Letterbox, YOLOX grid decoding, NMS and the decoder registry, without a model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.core import nms as nms_module
from edge_agent.core.decoding import DecoderParams, make_decoder
from edge_agent.core.letterbox import Preprocessor, ResizeInfo, ResizeKind, boxes_to_source
from edge_agent.core.nms import batched_nms, box_iou_batch, nms
from edge_agent.core.yolox import YoloxGridDecoder, make_grid


@pytest.mark.parametrize(
    ("width", "height", "ratio", "content_wh"),
    [
        (810, 1080, 416 / 1080, (312, 416)),
        (768, 576, 416 / 768, (416, 312)),
        (416, 416, 1.0, (416, 416)),
        (100, 50, 4.16, (416, 208)),
    ],
)
def test_letterbox_top_left(width: int, height: int, ratio: float, content_wh: tuple[int, int]) -> None:
    frame = np.full((height, width, 3), 200, dtype=np.uint8)
    canvas, info = Preprocessor(416, 416).resize(frame)
    assert info.ratio_x == pytest.approx(ratio)
    assert info.ratio_y == pytest.approx(ratio)
    content_w, content_h = content_wh
    assert (canvas[:content_h, :content_w] == 200).all()
    assert (canvas[content_h:, :] == 114).all()
    assert (canvas[:, content_w:] == 114).all()


def test_letterbox_tensor_layout_and_normalisation() -> None:
    frame = np.zeros((5, 10, 3), dtype=np.uint8)  # fills the top half of a 20x20 input
    frame[..., 0] = 10  # blue
    frame[..., 2] = 250  # red
    bgr_raw, _ = Preprocessor(20, 20)(frame)
    assert bgr_raw.shape == (1, 3, 20, 20)
    assert bgr_raw.dtype == np.float32
    assert bgr_raw[0, 0, 0, 0] == 10.0
    assert bgr_raw[0, 2, 0, 0] == 250.0
    assert bgr_raw[0, 1, 19, 19] == 114.0

    rgb_scaled, _ = Preprocessor(20, 20, rgb=True, scale=1 / 255, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))(frame)
    assert rgb_scaled[0, 0, 0, 0] == pytest.approx((250 / 255 - 0.5) / 0.5, abs=1e-5)
    assert rgb_scaled[0, 2, 0, 0] == pytest.approx((10 / 255 - 0.5) / 0.5, abs=1e-5)


def test_preprocessor_writes_into_out() -> None:
    preprocessor = Preprocessor(64, 64)
    frame = np.full((32, 64, 3), 200, dtype=np.uint8)
    out = np.zeros((1, 3, 64, 64), dtype=np.float32)
    tensor, _ = preprocessor(frame, out=out)
    assert tensor is out
    assert out[0, :, :32].min() == 200.0
    assert out[0, :, 32:].max() == 114.0
    with pytest.raises(ValueError, match="shape"):
        preprocessor(frame, out=np.zeros((1, 3, 32, 32), dtype=np.float32))


def test_stretch_resize_ratios() -> None:
    _, info = Preprocessor(352, 352, kind=ResizeKind.STRETCH)(np.zeros((576, 768, 3), np.uint8))
    assert info.ratio_x == pytest.approx(352 / 768)
    assert info.ratio_y == pytest.approx(352 / 576)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_width": 0, "input_height": 416}, "input size"),
        ({"input_width": 416, "input_height": 416, "pad_value": 300}, "pad_value"),
        ({"input_width": 416, "input_height": 416, "std": (1.0, 0.0, 1.0)}, "std"),
    ],
)
def test_preprocessor_rejects_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Preprocessor(**kwargs)  # type: ignore[arg-type]


def test_preprocessor_rejects_grey_frame() -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        Preprocessor(416, 416)(np.zeros((10, 10), np.uint8))


def test_boxes_to_source_scales_and_clips() -> None:
    boxes = np.array([[10.0, 20.0, 500.0, 100.0]], dtype=np.float32)
    boxes_to_source(boxes, ResizeInfo(0.5, 0.5, 800, 600))
    assert boxes.tolist() == [[20.0, 40.0, 800.0, 200.0]]


def test_grid_order_matches_yolox_export() -> None:
    cells, strides = make_grid(416, 416, (8, 16, 32))
    assert cells.shape == (3549, 2)
    assert cells[0].tolist() == [0, 0]
    assert cells[1].tolist() == [1, 0]  # x runs fastest
    assert cells[52].tolist() == [0, 1]
    assert strides[52 * 52, 0] == 16
    assert strides[-1, 0] == 32
    assert cells[-1].tolist() == [12, 12]


def _yolox_row(rows: np.ndarray, index: int, d: tuple[float, float, float, float], obj: float, cls: int, prob: float) -> None:
    rows[index, :4] = d
    rows[index, 4] = obj
    rows[index, 5 + cls] = prob


def test_yolox_decoder_places_box_and_scores() -> None:
    decoder = YoloxGridDecoder(DecoderParams(416, 416, 80, (8, 16, 32)))
    rows = np.zeros((3549, 85), dtype=np.float32)
    # Stride-16 cell (gx=3, gy=2): centre ((0.5+3)*16, (0.5+2)*16) = (56, 40), size e^0*16 * (2, 4).
    index = 52 * 52 + 2 * 26 + 3
    _yolox_row(rows, index, (0.5, 0.5, float(np.log(2.0)), float(np.log(4.0))), 0.9, 5, 0.8)
    # Below threshold after obj*cls: 0.5*0.5 = 0.25.
    _yolox_row(rows, 10, (0, 0, 0, 0), 0.5, 0, 0.5)
    out = decoder([rows[None]], ResizeInfo(0.5, 0.5, 832, 832), 0.3)
    assert len(out) == 1
    assert out.class_ids.tolist() == [5]
    assert out.scores[0] == pytest.approx(0.72)
    np.testing.assert_allclose(out.boxes_xyxy[0], [(56 - 16) * 2, (40 - 32) * 2, (56 + 16) * 2, (40 + 32) * 2], rtol=1e-5)


def test_yolox_decoder_rejects_wrong_shape() -> None:
    decoder = YoloxGridDecoder(DecoderParams(416, 416, 80, (8, 16, 32)))
    with pytest.raises(ValueError, match="expected"):
        decoder([np.zeros((1, 100, 85), np.float32)], ResizeInfo(1, 1, 416, 416), 0.3)


def test_registry_knows_layouts_and_rejects_unknown() -> None:
    assert isinstance(make_decoder("yolox_grid", DecoderParams(416, 416, 80, (8, 16, 32))), YoloxGridDecoder)
    with pytest.raises(ValueError, match="known layouts: fastestdet_grid, yolox_grid"):
        make_decoder("ssd", DecoderParams(300, 300, 80))


def test_nms_keeps_best_of_overlapping() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float32)
    scores = np.array([0.8, 0.9, 0.5], dtype=np.float32)
    assert nms(boxes, scores, 0.45).tolist() == [1, 2]


def test_batched_nms_keeps_other_classes() -> None:
    boxes = np.array([[466, 78, 692, 171], [464, 78, 683, 173]], dtype=np.float32)
    scores = np.array([0.80, 0.31], dtype=np.float32)
    assert sorted(batched_nms(boxes, scores, np.array([2, 7]), 0.45).tolist()) == [0, 1]
    assert batched_nms(boxes, scores, np.array([2, 2]), 0.45).tolist() == [0]


box_strategy = st.tuples(
    st.floats(0, 500), st.floats(0, 500), st.floats(1, 200), st.floats(1, 200)
).map(lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(box_strategy, st.floats(0.01, 1.0)), min_size=1, max_size=30), st.floats(0.1, 0.9))
def test_nms_invariants(items: list[tuple[tuple[float, float, float, float], float]], threshold: float) -> None:
    boxes = np.array([box for box, _ in items], dtype=np.float32)
    scores = np.array([score for _, score in items], dtype=np.float32)
    keep = nms(boxes, scores, threshold)
    # The best box always survives, kept boxes never overlap beyond the threshold.
    assert int(np.argmax(scores)) in keep.tolist() or scores[keep[0]] == scores.max()
    iou = box_iou_batch(boxes[keep], boxes[keep])
    np.fill_diagonal(iou, 0.0)
    assert (iou <= threshold + 1e-5).all()
    # Every dropped box overlaps some kept box with a score at least as high.
    dropped = sorted(set(range(len(items))) - set(keep.tolist()))
    if dropped:
        overlap = box_iou_batch(boxes[dropped], boxes[keep])
        assert (overlap > threshold - 1e-5).any(axis=1).all()


@settings(max_examples=60, deadline=None)
# Repeated scores check that ties keep their order in both ways.
@given(st.lists(st.tuples(box_strategy, st.one_of(st.floats(0.01, 1.0), st.sampled_from([0.5, 0.9]))),
                min_size=1, max_size=60), st.floats(0.1, 0.9))
def test_nms_matrix_equals_row_by_row(items: list[tuple[tuple[float, float, float, float], float]],
                                      threshold: float) -> None:
    boxes = np.array([box for box, _ in items], dtype=np.float32)
    scores = np.array([score for _, score in items], dtype=np.float32)
    by_matrix = nms(boxes, scores, threshold)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nms_module, "MATRIX_NMS_MAX_BOXES", 0)
        by_rows = nms(boxes, scores, threshold)
    assert by_matrix.tolist() == by_rows.tolist()
