"""synthcv report: one self-contained HTML page, opened in headless Chromium
(Debian's chromium, driven by Playwright) for rendered, augmented and third-party
COCO datasets, including broken ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment.pipeline import load_pipeline
from augment.writer import augment_dataset
from render.config import load_config
from render.driver import run_render
from render.errors import UserError
from render.report import build_report
from render.report.stats import compute
from tests.browser import chromium, open_page
from tests.coco_fixtures import edit_annotations, write_coco

ROOT = Path(__file__).resolve().parents[1]
SYNTHCV = [sys.executable, "-m", "render.cli"]


@pytest.fixture(scope="module")
def defects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Products with nested defects (defect sizes), fake renderer. The fake renderer
    paints each object as a flat box at its location in its base colour: the
    contrast check is off (a groove has its product's colour) and there are no
    nuisances (the last child drawn takes the box, and they come after defects)."""
    cfg = load_config(
        ROOT / "configs" / "defects.yaml",
        [
            "num_scenes=3",
            "render.resolution=[128, 128]",
            "scene.min_defect_contrast=0",
            "scene.min_defect_pixels=4",
            "scene.nuisances={}",
        ],
    )
    out = tmp_path_factory.mktemp("defects") / "ds"
    run_render(cfg, out, renderer="tests.fake_renderer", progress=False)
    return out


@pytest.fixture(scope="module")
def pedestrians(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """People with keypoints, visibility and crowd regions, fake renderer."""
    cfg = load_config(
        ROOT / "configs" / "pedestrians.yaml",
        ["num_scenes=2", "render.resolution=[160, 120]", "scene.people.count=[6,6]",
         "scene.min_person_pixels=4", "annotation.min_pixels=4"],
    )  # fmt: skip
    out = tmp_path_factory.mktemp("peds") / "ds"
    run_render(cfg, out, renderer="tests.fake_renderer", progress=False)
    return out


@pytest.fixture(scope="module")
def augmented(pedestrians: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("aug") / "aug"
    pipe = load_pipeline(ROOT / "configs" / "augment" / "qc.yaml")
    augment_dataset(pedestrians, pipe, out, copies=1, seed=3, progress=False)
    return out


@pytest.fixture()
def third_party(tmp_path: Path) -> Path:
    """Polygon masks, no dataset.json, and the usual defects of the wild: a missing
    image, a bbox that is not one, an unknown category, a hostile class name."""
    root = write_coco(tmp_path / "wild", np.random.default_rng(5), n_images=5, seg="polygon")

    def damage(doc: dict) -> None:
        doc["categories"][0]["name"] = "<script>alert(1)</script>"
        doc["annotations"][0]["bbox"] = "nonsense"
        doc["annotations"][1]["category_id"] = 999
        doc["annotations"][2]["bbox"] = [1, 2, -5, 3]

    edit_annotations(root, damage)
    (root / doc_image(root, 2)).unlink()
    return root


def doc_image(root: Path, n: int) -> str:
    return json.loads((root / "annotations.json").read_text())["images"][n]["file_name"]


needs_chromium = pytest.mark.skipif(
    chromium() is None and not os.environ.get("CI"),
    reason="no chromium on PATH (make test installs it; required in CI)",
)


def _check_in_browser(html: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    check = open_page(html, shot)
    assert check.console_errors == []
    assert check.page_errors == []
    assert check.external_requests == []  # self-contained: nothing fetched
    assert check.images > 0 and check.broken_images == []
    assert check.title.endswith("dataset report")
    img = Image.open(shot)
    assert img.width == 1400 and img.height == check.height > 900
    assert np.asarray(img.convert("L")).std() > 10  # not a blank page


@needs_chromium
@pytest.mark.parametrize("which", ["defects", "pedestrians", "augmented"])
def test_report_of_our_datasets_opens_in_chromium(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    dataset: Path = request.getfixturevalue(which)
    result = build_report(dataset)
    assert result.path == dataset / "report.html"
    text = result.path.read_text()
    doc = json.loads((dataset / "annotations.json").read_text())
    named = {c["name"] for c in doc["categories"]}
    present = {
        c["name"]
        for c in doc["categories"]
        if any(a["category_id"] == c["id"] for a in doc["annotations"])
    }
    assert all(f"<h3>{n}</h3>" in text for n in present)
    assert result.tiles == sum(min(6, len({a["image_id"] for a in doc["annotations"] if a["category_id"] == c["id"] and not a.get("iscrowd")})) for c in doc["categories"])  # fmt: skip
    assert result.unreadable_tiles == 0 and named
    assert 'id="chart-counts"' in text and 'id="chart-centres"' in text
    assert 'id="chart-box_size"' in text and 'id="chart-aspect"' in text
    if which == "defects":
        assert 'id="chart-defect_size"' in text
        assert "defects family" in text
    if which in ("pedestrians", "augmented"):
        assert 'id="chart-keypoints"' in text
    if which == "pedestrians":
        assert 'id="chart-visibility"' in text and "pedestrians family" in text
    if which == "augmented":
        assert "augmented by synthcv" in text
    _check_in_browser(result.path, tmp_path)


LAYOUT_PROBE = """(() => {
  const box = (e) => { const r = e.getBoundingClientRect();
                       return [r.left, r.top, r.right, r.bottom]; };
  const kp = document.querySelector('#chart-keypoints');
  const map = document.querySelector('#chart-centres #centres-map');
  return {
    legend: kp && box(kp.querySelector('#kp-legend')),
    bars: kp ? [...kp.querySelectorAll('[id^="kp-bar-"]')].map(box) : [],
    map: map && box(map),
    header: document.querySelector('header').innerText,
    times: [...document.querySelectorAll('table.times td')].map((t) => t.innerText),
    tiles: [...document.querySelectorAll('.mosaic img')].map((i) => i.getBoundingClientRect().width),
  };
})()"""


@needs_chromium
def test_report_layout_measured_in_chromium(pedestrians: Path, tmp_path: Path) -> None:
    """Issue 21, measured where Chromium laid the page out: the keypoint legend
    covers no bar, the centre map has the images' aspect, the header shows the
    folder (not this machine's path), the render time lists no zero stage, the
    example tiles fill the width instead of one narrow column."""
    build_report(pedestrians)
    got = open_page(pedestrians / "report.html", probe=LAYOUT_PROBE).probed
    assert isinstance(got, dict)
    legend, bars = got["legend"], got["bars"]
    assert legend and len(bars) >= 17 * 3
    overlaps = [b for b in bars if b[0] < legend[2] and legend[0] < b[2] and b[1] < legend[3] and legend[1] < b[3] and b[2] > b[0]]  # fmt: skip
    assert overlaps == [], (legend, overlaps[:3])
    doc = json.loads((pedestrians / "annotations.json").read_text())
    w, h = doc["images"][0]["width"], doc["images"][0]["height"]
    x0, y0, x1, y1 = got["map"]
    assert (y1 - y0) / (x1 - x0) == pytest.approx(h / w, rel=0.02), (got["map"], w, h)
    assert got["header"].splitlines()[-1] == f"{pedestrians.name}/annotations.json"
    assert str(pedestrians.resolve()) not in got["header"]
    assert got["times"] and not any(t in ("0.0 s", "0 ms", "0%") for t in got["times"]), repr(
        got["times"]
    )
    assert got["tiles"] and min(got["tiles"]) >= 170


@needs_chromium
def test_report_of_a_broken_third_party_dataset(third_party: Path, tmp_path: Path) -> None:
    result = build_report(third_party)
    text = result.path.read_text()
    assert "COCO dataset (no synthcv dataset.json)" in text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "3 annotation(s) could not be used" in text
    assert result.unreadable_tiles >= 1 and "image not found" in text
    _check_in_browser(result.path, tmp_path)


def test_stats_count_what_the_document_holds(pedestrians: Path) -> None:
    doc = json.loads((pedestrians / "annotations.json").read_text())
    s = compute(doc)
    assert s.n_images == len(doc["images"]) and s.n_annotations == len(doc["annotations"])
    for c in s.classes:
        mine = [a for a in doc["annotations"] if a["category_id"] == c.id]
        assert c.instances == sum(not a.get("iscrowd") for a in mine)
        assert c.crowd == sum(bool(a.get("iscrowd")) for a in mine)
        assert c.images == len({a["image_id"] for a in mine})
    assert len(s.boxes) == sum(not a.get("iscrowd") for a in doc["annotations"])
    assert len(s.visibility) == sum("visibility" in a for a in doc["annotations"])
    assert s.per_image.sum() == len(doc["annotations"]) and s.skipped == 0
    person = next(c for c in s.classes if c.name == "person")
    assert s.keypoint_visible["person"].sum() == 17 * person.instances


def test_report_refuses_to_replace_a_file_it_did_not_write(third_party: Path) -> None:
    mine = third_party / "report.html"
    mine.write_text("<html>the user's own report</html>")
    with pytest.raises(UserError, match="not a synthcv report"):
        build_report(third_party)
    assert mine.read_text() == "<html>the user's own report</html>"
    out = build_report(third_party, third_party / "synthcv.html").path
    assert out.exists()
    build_report(third_party, out)  # our own report is replaced


def test_cli_report_on_an_augmented_dataset(augmented: Path) -> None:
    """Regression: dataset.json's ``workers`` is an int there (AttributeError before)."""
    r = subprocess.run(
        [*SYNTHCV, "report", str(augmented), "--no-progress"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"report: wrote {augmented / 'report.html'}")
    assert (augmented / "report.html").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "/nonexistent/ds"], "not a dataset folder"),
        (["report", "{tmp}"], "annotations file not found"),
        (["report", "{wild}", "--out", "{tmp}"], "is a directory"),
        (["report", "{wild}", "--out", "/nonexistent/x.html"], "does not exist"),
        (["report", "{wild}", "--per-class", "-1"], "--per-class -1"),
    ],
)
def test_cli_report_errors_are_one_line(
    argv: list[str], message: str, third_party: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.format(tmp=empty, wild=third_party) for a in argv]
    r = subprocess.run([*SYNTHCV, *args], capture_output=True, text=True)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_read_only_dataset_is_one_line(third_party: Path) -> None:
    if subprocess.run(["chattr", "+i", str(third_party)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available on this filesystem")
    try:
        r = subprocess.run([*SYNTHCV, "report", str(third_party)], capture_output=True, text=True)
    finally:
        subprocess.run(["chattr", "-i", str(third_party)], check=True)
    assert r.returncode == 2 and "cannot write" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_tile_labels_never_overlap() -> None:
    """Three people in one box used to print "personpersonperson"; the label is
    written once, and not at all for the mosaic's own class."""
    from render.report.overlay import draw_tile

    base = Image.new("RGB", (64, 64), (90, 90, 90))
    cats = {1: {"id": 1, "name": "person"}, 2: {"id": 2, "name": "car"}}
    one = [{"id": 1, "category_id": 1, "bbox": [10, 20, 20, 30]}]
    three = [dict(one[0], id=k) for k in (1, 2, 3)]
    a = np.asarray(draw_tile(base, one, cats, masks=False))
    b = np.asarray(draw_tile(base, three, cats, masks=False))
    assert (a == b).all()
    unlabelled = np.asarray(draw_tile(base, one, cats, masks=False, unlabelled=1))
    assert (unlabelled != a).any()  # the label's pixels are gone
    assert (unlabelled[:19] == 90).all()  # nothing above the box but the background
