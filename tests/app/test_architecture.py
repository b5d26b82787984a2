"""The Architecture page: AppTest on the script itself, and one browser test through the app's router."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import assert_no_exception, screenshot, wait_idle

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "architecture.py")
IMAGENET_PARAMS = [11_689_512, 21_797_672, 25_557_032, 44_549_160, 60_192_808]
# ResNeXt-50 32x4d, Wide ResNet-50-2, DenseNet-121: torchvision's published counts.
VARIANT_PARAMS = [25_028_904, 68_883_240, 7_978_856]
CIFAR_PARAMS = [269_722, 464_154, 658_586, 853_018, 1_727_962]


def run_page() -> AppTest:
    """The page after its first full run (the counts are cached for the rest of the process)."""
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def frame_with(at: AppTest, column: str):
    return next(df.value for df in at.dataframe if column in df.value.columns)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def graphviz_spec(at: AppTest) -> str:
    charts = at.get("graphviz_chart")
    assert len(charts) == 1
    return charts[0].proto.spec


def test_page_shows_the_families_counted_live() -> None:
    at = run_page()
    start = time.perf_counter()
    at.run()  # a rerun reads every result from st.cache_data
    print(f"architecture page rerun: {time.perf_counter() - start:.2f} s")
    assert not at.exception and not at.error
    imagenet = frame_with(at, "GMACs (paper, Table 1)")
    assert list(imagenet["model"][5:]) == ["resnext50_32x4d", "wide_resnet50_2", "densenet121"]
    assert list(imagenet["parameters"]) == IMAGENET_PARAMS + VARIANT_PARAMS
    assert list(imagenet["parameters (torchvision metadata)"]) == IMAGENET_PARAMS + VARIANT_PARAMS
    assert list(imagenet["GMACs (torchvision metadata)"][5:]) == [4.23, 11.398, 2.834]
    assert list(imagenet["top-1 error % (lab reference)"][:5]) == [30.24, 26.73, 24.01, 22.44, 22.16]
    assert imagenet["GMACs (paper, Table 1)"][5:].isna().all()  # He et al.'s columns: no value for the relatives
    cifar = frame_with(at, "parameters (residual)")
    assert list(cifar["parameters (residual)"]) == CIFAR_PARAMS
    assert list(cifar["paper test error %"]) == [8.75, 7.51, 7.17, 6.97, 6.43]
    assert len(at.get("plotly_chart")) == 4
    assert "multiply-adds" in at.markdown[1].value and "Table 1" in at.markdown[1].value
    assert float(metric(at, "Relative error")) < 1e-5


def test_selecting_a_block_variant_redraws_it_with_its_cost() -> None:
    at = run_page()
    assert '"add"' in graphviz_spec(at) and "shortcut_0" not in graphviz_spec(at)
    assert metric(at, "Parameters") == "73,984"  # basic, 64-d: two 3x3 convs and two BNs
    at.radio(key="arch_block").set_value("bottleneck")
    at.selectbox(key="arch_shortcut").set_value("B")
    at.toggle(key="arch_downsample").set_value(True)
    at.run()
    spec = graphviz_spec(at)
    assert "shortcut_0" in spec and "shortcut_1" in spec
    assert all(label in spec for label in ("1×1 conv, 64", "3×3 conv, 64, /2", "1×1 conv, 256"))
    assert int(metric(at, "Shortcut parameters").replace(",", "")) == 128 * 256 + 2 * 256
    at.selectbox(key="arch_shortcut").set_value("none").run()
    assert '"add"' not in graphviz_spec(at)
    assert metric(at, "Shortcut parameters") == "0"
    assert not at.exception


def test_gradient_identity_for_each_block() -> None:
    at = run_page()
    for block in ("bottleneck", "mlp"):
        at.radio(key="arch_id_block").set_value(block)
        at.toggle(key="arch_id_preact").set_value(True)
        at.run()
        assert not at.exception
        assert float(metric(at, "Relative error")) < 1e-5
    assert any("nothing follows the sum" in m.value for m in at.markdown)  # MLP units: y is the sum itself


def open_architecture(page) -> None:
    """Reach the page through the router's sidebar, as a visitor does."""
    page.goto(page.app_url)
    wait_idle(page)
    # Until the router has run, the sidebar lists the pages/ folder by file name; wait for st.navigation's.
    page.locator('[data-testid="stSidebar"]').get_by_text("Seed").wait_for(timeout=120_000)
    page.get_by_role("link", name="Architecture", exact=True).click()
    page.get_by_text("The ImageNet family").first.wait_for(timeout=180_000)


@pytest.mark.browser
def test_architecture_page_in_the_browser(page) -> None:
    open_architecture(page)
    assert "Seed" in page.locator('[data-testid="stSidebar"]').inner_text()  # the router's sidebar
    page.get_by_role("tab", name="Block anatomy").click()
    diagram = page.locator('[data-testid="stGraphVizChart"] svg')
    diagram.first.wait_for(timeout=60_000)
    assert "3×3 conv, 64" in diagram.first.text_content()
    screenshot(page, "architecture_anatomy")
    page.get_by_role("tab", name="Gradient identity").click()
    page.get_by_text("they agree to").first.wait_for(timeout=60_000)
    screenshot(page, "architecture_identity")
    assert_no_exception(page)
    # Leave and come back: the second visit reads every count from the cache.
    page.get_by_role("link", name="Gradient flow", exact=True).click()
    wait_idle(page)
    start = time.perf_counter()
    page.get_by_role("link", name="Architecture", exact=True).click()
    page.get_by_text("The ImageNet family").first.wait_for(timeout=60_000)
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=60_000)
    print(f"architecture page, second visit: {time.perf_counter() - start:.2f} s to the first chart")
    assert_no_exception(page)
