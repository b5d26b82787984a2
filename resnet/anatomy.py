"""Anatomy of residual networks, measured: block graphs read from the module structure, parameter
and multiply-add counts (torch.utils.flop_counter), and the ImageNet and CIFAR-10 family tables.

Counts run on the meta device: shapes propagate, no memory is allocated, no arithmetic is done,
so ResNet-152 at 224x224 is counted in a fraction of a second. FlopCounterMode counts the
convolutions and matrix products (FLOPs = 2 x multiply-adds); batch norm, activations, pooling
and additions are not counted, as in the paper's Table 1, which quotes multiply-adds.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision import models
from torchvision.models.densenet import _DenseBlock, _DenseLayer
from torchvision.models.resnet import Bottleneck as TorchvisionBottleneck

from resnet.blocks import ResidualUnit
from resnet.checks import choice, int_in
from resnet.layers import ACTS
from resnet.nets import BLOCKS, ResidualNet, check_cnn_depth, cifar_resnet
from resnet.shortcuts import SHORTCUTS, ZeroPadShortcut, make_shortcut
from resnet.zoo import IMAGENET_RESNETS, imagenet_resnet, parameter_count

# He et al. 2015, Table 1: multiply-adds of one 224x224 forward pass, x10^9.
PAPER_GMACS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 3.8, "resnet101": 7.6, "resnet152": 11.3}
# The lab's reference top-1 errors, in %. Only ResNet-18's (30.24) matches torchvision's
# weights; 26.73 / 24.01 / 22.44 are fb.resnet.torch's 1-crop errors (its pretrained/README.md).
REFERENCE_TOP1_ERROR = {"resnet18": 30.24, "resnet34": 26.73, "resnet50": 24.01, "resnet101": 22.44,
                        "resnet152": 22.16}
_WEIGHTS = {"resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights", "resnet50": "ResNet50_Weights",
            "resnet101": "ResNet101_Weights", "resnet152": "ResNet152_Weights",
            "resnext50_32x4d": "ResNeXt50_32X4D_Weights", "wide_resnet50_2": "Wide_ResNet50_2_Weights",
            "densenet121": "DenseNet121_Weights"}
# The ResNet family's relatives in torchvision, and the papers that introduced them.
VARIANTS = {"resnext50_32x4d": "Xie et al. 2017", "wide_resnet50_2": "Zagoruyko & Komodakis 2016",
            "densenet121": "Huang et al. 2017"}
# He et al. 2015, Table 6 (CIFAR-10, option A): parameters in millions and test error in %.
CIFAR_DEPTHS = (20, 32, 44, 56, 110)
PAPER_CIFAR = {20: (0.27, 8.75), 32: (0.46, 7.51), 44: (0.66, 7.17), 56: (0.85, 6.97), 110: (1.7, 6.43)}

MAX_BLOCK_PLANES = 512
MAX_MAP_SIZE = 224


# --- counting -----------------------------------------------------------------------------


@contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """Evaluate `model` without touching its batch-norm statistics or its training flag."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _example(model: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    """A batch of one input of `input_shape`, on the device (meta or real) that holds `model`."""
    tensors = [*model.parameters(), *model.buffers()]
    device = tensors[0].device if tensors else torch.device("meta")
    return torch.zeros((1, *input_shape), device=device)


def _flop_counts(model: nn.Module, input_shape: Sequence[int]) -> dict[str, int]:
    """FLOPs of one forward pass per module, keyed by module path relative to `model` ("" = all)."""
    root = type(model).__name__
    with _frozen(model), FlopCounterMode(display=False) as counter:
        model(_example(model, input_shape))
    counts = {"": counter.get_total_flops()}
    for key, ops in counter.get_flop_counts().items():
        if key.startswith(root + "."):
            counts[key[len(root) + 1:]] = sum(ops.values())
    return counts


def multiply_adds(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-adds of one forward pass of one input of `input_shape` (C, H, W): FLOPs / 2."""
    return _flop_counts(model, input_shape)[""] // 2


# --- block graphs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerNode:
    """One operation of a block, in forward order."""

    name: str  # the torch.fx node name: "conv1", "shortcut_0", "add", "x", "y"
    kind: str  # input | conv | norm | act | linear | pad | add | output | module
    label: str  # the paper's style: "3×3 conv, 64, /2"
    detail: str  # channels and output map, or what it costs
    path: str  # branch (F), shortcut, pre, post (after the sum) or io
    shape: tuple[int, ...]  # output shape without the batch axis
    params: int
    macs: int


@dataclass(frozen=True)
class Edge:
    """A tensor flowing from one node to another; `label` names an identity shortcut."""

    src: str
    dst: str
    label: str
    path: str


@dataclass(frozen=True)
class BlockGraph:
    """A residual unit as plain data: its operations, the tensors between them and its cost."""

    title: str
    nodes: tuple[LayerNode, ...]
    edges: tuple[Edge, ...]

    @property
    def params(self) -> int:
        """Parameters of the whole unit."""
        return sum(n.params for n in self.nodes)

    @property
    def macs(self) -> int:
        """Multiply-adds of the whole unit for its input."""
        return sum(n.macs for n in self.nodes)

    def kinds(self, path: str | None = None) -> list[str]:
        """The node kinds in forward order, optionally only those on `path`."""
        return [n.kind for n in self.nodes if path is None or n.path == path]

    def as_dict(self) -> dict:
        """Plain data (lists and dicts) for viz/."""
        return dataclasses.asdict(self) | {"params": self.params, "macs": self.macs}


class _Tracer(fx.Tracer):
    """Traces into our modules but keeps the zero-padding shortcut whole: it is one operation."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, ZeroPadShortcut) or super().is_leaf_module(m, module_qualified_name)


class _Measure(fx.Interpreter):
    """Runs a traced block node by node, keeping each node's output shape and FLOPs."""

    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.flops: dict[str, int] = {}

    def run_node(self, n: fx.Node):
        with FlopCounterMode(display=False) as counter:
            out = super().run_node(n)
        self.flops[n.name] = counter.get_total_flops()
        if isinstance(out, torch.Tensor):
            self.shapes[n.name] = tuple(out.shape[1:])
        return out


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def _describe(module: nn.Module, shape: tuple[int, ...]) -> tuple[str, str, str]:
    """(kind, label, detail) of a leaf module, named as in the paper's figures."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        stride = f", /{module.stride[0]}" if module.stride[0] > 1 else ""
        return "conv", f"{kh}×{kw} conv, {module.out_channels}{stride}", \
            f"{module.in_channels}→{module.out_channels} ch, out {_shape_text(shape)}"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "norm", "BN", f"{module.num_features} ch"
    if isinstance(module, nn.Linear):
        return "linear", f"fc, {module.out_features}", f"{module.in_features}→{module.out_features}"
    if isinstance(module, ZeroPadShortcut):
        return "pad", f"subsample /{module.stride}, zero-pad +{module.pad} ch", "option A: no parameters"
    name = type(module).__name__
    if name.lower() in ACTS:
        return "act", "ReLU" if name == "ReLU" else name.lower(), ""
    return "module", name, _shape_text(shape)


def _path(target: str) -> str:
    head = target.split(".")[0]
    return head if head in ("shortcut", "pre", "post") else "branch"


def _layer_node(n: fx.Node, modules: dict[str, nn.Module], shape: tuple[int, ...], macs: int,
                projection: bool) -> LayerNode:
    """Describe one traced operation; the sum names what it adds."""
    if n.op == "placeholder":
        return LayerNode(n.name, "input", "x", _shape_text(shape), "io", shape, 0, 0)
    if n.op == "output":
        return LayerNode("y", "output", "y", _shape_text(shape), "io", shape, 0, 0)
    if n.op == "call_module":
        module = modules[n.target]
        kind, label, detail = _describe(module, shape)
        return LayerNode(n.name, kind, label, detail, _path(n.target), shape, parameter_count(module), macs)
    if n.target in (operator.add, torch.add):
        return LayerNode(n.name, "add", "+", "F(x) + W_s x" if projection else "F(x) + x", "io", shape, 0, 0)
    return LayerNode(n.name, "module", str(n.target), _shape_text(shape), "branch", shape, 0, macs)


def block_graph(unit: ResidualUnit, input_shape: Sequence[int], title: str = "") -> BlockGraph:
    """The operations of `unit` in forward order (torch.fx trace), identities folded into edges."""
    traced = fx.GraphModule(unit, _Tracer().trace(unit))
    measure = _Measure(traced)
    with _frozen(unit):
        measure.run(_example(unit, input_shape))
    modules = dict(unit.named_modules())
    projection = unit.shortcut_on and parameter_count(unit.shortcut) > 0
    nodes: dict[str, LayerNode] = {}
    alias: dict[str, tuple[str, str]] = {}  # fx name -> (kept node name, edge label)
    edges: list[Edge] = []
    for n in traced.graph.nodes:
        sources = [alias.get(a.name, (a.name, "")) for a in n.all_input_nodes]
        if n.op == "call_module" and isinstance(modules[n.target], nn.Identity):
            # Taps and identity shortcuts compute nothing: fold them into the edge they sit on.
            src, label = sources[0]
            alias[n.name] = (src, "identity" if n.target == "shortcut" else label)
            continue
        shape = measure.shapes.get(n.name) or nodes[sources[0][0]].shape
        node = _layer_node(n, modules, shape, measure.flops.get(n.name, 0) // 2, projection)
        nodes[node.name] = node
        alias[n.name] = (node.name, "")
        for src, label in sources:
            src_path = nodes[src].path
            on_shortcut = label == "identity" or "shortcut" in (node.path, src_path)
            path = "shortcut" if on_shortcut else node.path if src_path == "io" else src_path
            edges.append(Edge(src, node.name, label, path))
    return BlockGraph(title or _title(unit), tuple(nodes.values()), tuple(edges))


def _title(unit: ResidualUnit) -> str:
    kind = "bottleneck" if unit.expansion == 4 else "basic" if hasattr(unit, "conv2") else "MLP"
    order = "pre-activation" if unit.preact else "post-activation"
    return f"{kind} block, {order}"


def build_block(block: str = "basic", *, residual: bool = True, shortcut: str = "A", preact: bool = False,
                downsample: bool = False, planes: int = 64, size: int = 56) -> tuple[ResidualUnit, tuple[int, ...]]:
    """A residual unit on the meta device and its input shape (C, H, W).

    `planes` is the 3x3 width; the unit outputs planes x expansion channels. `downsample` halves
    the map (stride 2) and doubles the channels, as the first block of a stage does.
    """
    choice("block", block, tuple(BLOCKS))
    choice("shortcut", shortcut, SHORTCUTS)
    int_in("planes", planes, 1, MAX_BLOCK_PLANES)
    int_in("size", size, 2, MAX_MAP_SIZE)
    unit_cls = BLOCKS[block]
    out_planes = planes * unit_cls.expansion
    in_planes = out_planes // 2 if downsample else out_planes
    if in_planes < 1:
        raise ValueError("a downsampling block needs at least 2 output channels; raise planes")
    stride = 2 if downsample else 1
    with torch.device("meta"):
        sc = make_shortcut(shortcut, in_planes, out_planes, stride, nn.BatchNorm2d) if residual else None
        unit = unit_cls(in_planes, planes, stride, shortcut=sc, preact=preact, norm_layer=nn.BatchNorm2d, act="relu")
    return unit, (in_planes, size, size)


def block_anatomy(block: str = "basic", *, residual: bool = True, shortcut: str = "A", preact: bool = False,
                  downsample: bool = False, planes: int = 64, size: int = 56) -> BlockGraph:
    """The graph, parameters and multiply-adds of one block variant (see `build_block`)."""
    unit, shape = build_block(block, residual=residual, shortcut=shortcut, preact=preact,
                              downsample=downsample, planes=planes, size=size)
    kind = "plain" if not residual else f"shortcut {shortcut}"
    order = "pre-activation" if preact else "post-activation"
    title = f"{block} block, {order}, {kind}" + (", downsampling /2" if downsample else "")
    return block_graph(unit, shape, title)


def bottleneck_comparison(size: int = 56) -> list[BlockGraph]:
    """Fig. 5 of the paper, measured: a basic block at 64-d, a bottleneck at 256-d, and a basic block at 256-d."""
    int_in("size", size, 2, MAX_MAP_SIZE)
    variants = [("basic, 64-d (ResNet-34)", "basic", 64), ("bottleneck, 256-d (ResNet-50)", "bottleneck", 64),
                ("basic, 256-d", "basic", 256)]
    graphs = []
    for title, block, planes in variants:
        unit, shape = build_block(block, planes=planes, size=size)
        graphs.append(block_graph(unit, shape, title))
    return graphs


# --- family tables --------------------------------------------------------------------------


def _weighted_layers(model: nn.Module) -> int:
    """Convolutions and fully connected layers on the main path: the depth the paper names a net by."""
    skip = (".shortcut", ".downsample")
    return sum(isinstance(m, (nn.Conv2d, nn.Linear)) and not any(s in f".{name}" for s in skip)
               for name, m in model.named_modules())


def _stride_on_first_1x1(model: nn.Module) -> nn.Module:
    """Move each downsampling bottleneck's stride from the 3x3 to the first 1x1, as the paper has it.

    torchvision strides the 3x3 (the variant known as ResNet v1.5); the paper's model strides the
    first 1x1, which makes that 3x3 work on a 4x smaller map.
    """
    for m in model.modules():
        if isinstance(m, TorchvisionBottleneck) and m.conv2.stride != (1, 1):
            m.conv1.stride, m.conv2.stride = m.conv2.stride, (1, 1)
    return model


def _torchvision_meta(name: str) -> dict:
    """The metadata of torchvision's IMAGENET1K_V1 weights of `name` (shipped with torchvision: no download)."""
    choice("ImageNet model", name, tuple(_WEIGHTS))
    return getattr(models, _WEIGHTS[name]).IMAGENET1K_V1.meta


def torchvision_top1_error(name: str) -> float:
    """Top-1 error (%) of torchvision's IMAGENET1K_V1 weights, read from their metadata (no download)."""
    return round(100.0 - _torchvision_meta(name)["_metrics"]["ImageNet-1K"]["acc@1"], 3)


@dataclass(frozen=True)
class ImageNetRow:
    """One row of the ImageNet family table, counted from torchvision's builder."""

    name: str
    layers: int
    block: str
    stage_blocks: tuple[int, ...]
    params: int
    macs: int  # torchvision's model: stride on the bottleneck's 3x3
    macs_paper_stride: int  # the same model with the stride on the first 1x1, as in the paper
    paper_gmacs: float
    top1_error_torchvision: float
    top1_error_reference: float
    published_params: int  # torchvision's weights metadata ("num_params")
    published_gmacs: float  # torchvision's weights metadata ("_ops", multiply-adds x10^9 at 224x224)


def imagenet_family(image_size: int = 224) -> list[ImageNetRow]:
    """ResNet-18 to 152: layers, block, parameters and multiply-adds at `image_size`, beside Table 1."""
    int_in("image_size", image_size, 32, 512)
    rows = []
    shape = (3, image_size, image_size)
    for name in IMAGENET_RESNETS:
        with torch.device("meta"):
            model = imagenet_resnet(name)
        stages = tuple(len(getattr(model, f"layer{i}")) for i in range(1, 5))
        block = "bottleneck" if isinstance(model.layer1[0], TorchvisionBottleneck) else "basic"
        layers, params, macs = _weighted_layers(model), parameter_count(model), multiply_adds(model, shape)
        paper_macs = multiply_adds(_stride_on_first_1x1(model), shape)
        meta = _torchvision_meta(name)
        rows.append(ImageNetRow(name, layers, block, stages, params, macs, paper_macs, PAPER_GMACS[name],
                                torchvision_top1_error(name), REFERENCE_TOP1_ERROR[name], meta["num_params"],
                                meta["_ops"]))
    return rows


@dataclass(frozen=True)
class VariantRow:
    """One of the ResNet family's relatives (ResNeXt, Wide ResNet, DenseNet), counted, beside torchvision's metadata."""

    name: str
    paper: str
    layers: int
    block: str
    stage_blocks: tuple[int, ...]  # residual blocks per stage; DenseNet: dense layers per dense block
    params: int
    macs: int  # torchvision's model at the table's image size
    published_params: int  # torchvision's weights metadata ("num_params")
    published_gmacs: float  # torchvision's weights metadata ("_ops", multiply-adds x10^9 at 224x224)
    top1_error_torchvision: float


def _variant_block(model: nn.Module) -> tuple[str, tuple[int, ...]]:
    """(block, blocks per stage) of a torchvision ResNeXt, Wide ResNet or DenseNet, read from its modules."""
    if hasattr(model, "features"):
        dense = [m for m in model.features if isinstance(m, _DenseBlock)]
        growth = next(m for m in model.modules() if isinstance(m, _DenseLayer)).conv2.out_channels
        return f"dense layer (1×1, 3×3), growth {growth}", tuple(len(b) for b in dense)
    stages = tuple(len(getattr(model, f"layer{i}")) for i in range(1, 5))
    conv = model.layer1[0].conv2  # the bottleneck's 3x3: 64 wide, one group in ResNet-50
    if conv.groups > 1:
        return f"bottleneck, 3×3 in {conv.groups} groups of {conv.out_channels // conv.groups}", stages
    return f"bottleneck, 3×3 {conv.out_channels // 64}× as wide", stages


def variant_family(image_size: int = 224) -> list[VariantRow]:
    """ResNeXt-50 32x4d, Wide ResNet-50-2 and DenseNet-121: layers, parameters and multiply-adds at `image_size`."""
    int_in("image_size", image_size, 32, 512)
    rows = []
    for name, paper in VARIANTS.items():
        with torch.device("meta"):
            model = getattr(models, name)(weights=None)
        block, stages = _variant_block(model)
        meta = _torchvision_meta(name)
        rows.append(VariantRow(name, paper, _weighted_layers(model), block, stages, parameter_count(model),
                               multiply_adds(model, (3, image_size, image_size)), meta["num_params"], meta["_ops"],
                               torchvision_top1_error(name)))
    return rows


@dataclass(frozen=True)
class CifarRow:
    """One row of the CIFAR-10 family table, counted from resnet.nets.cifar_resnet."""

    depth: int
    n: int
    layers: int
    params: int
    plain_params: int
    macs: int
    paper_params_m: float
    paper_test_error: float


def cifar_family(depths: Sequence[int] = CIFAR_DEPTHS, shortcut: str = "A") -> list[CifarRow]:
    """The 6n+2 family of Sec. 4.2 at 32x32 beside Table 6 (paper columns only for its depths)."""
    choice("shortcut", shortcut, SHORTCUTS)
    rows = []
    for depth in depths:
        n = check_cnn_depth(depth, "basic")
        with torch.device("meta"):
            net = cifar_resnet(depth, shortcut=shortcut)
            plain = cifar_resnet(depth, residual=False)
        paper_params, paper_error = PAPER_CIFAR.get(depth, (float("nan"), float("nan")))
        rows.append(CifarRow(depth, n, _weighted_layers(net), parameter_count(net), parameter_count(plain),
                             multiply_adds(net, (3, 32, 32)), paper_params, paper_error))
    return rows


# --- shortcut cost per stage ----------------------------------------------------------------


@dataclass(frozen=True)
class StageCost:
    """What the shortcuts of one stage cost, beside what the whole stage costs."""

    stage: str
    blocks: int
    projections: int
    shortcut_params: int
    shortcut_macs: int
    params: int
    macs: int


def _stage_costs(model: nn.Module, input_shape: Sequence[int],
                 stages: list[tuple[str, list[tuple[str, nn.Module, str]]]]) -> list[StageCost]:
    """Sum shortcut and block costs per stage; each block is (path, module, shortcut attribute)."""
    flops = _flop_counts(model, input_shape)
    costs = []
    for stage, blocks in stages:
        shortcuts = [getattr(b, attr) for _, b, attr in blocks]
        costs.append(StageCost(
            stage=stage,
            blocks=len(blocks),
            projections=sum(s is not None and parameter_count(s) > 0 for s in shortcuts),
            shortcut_params=sum(parameter_count(s) for s in shortcuts if s is not None),
            shortcut_macs=sum(flops.get(f"{path}.{attr}", 0) for path, _, attr in blocks) // 2,
            params=sum(parameter_count(b) for _, b, _ in blocks),
            macs=sum(flops.get(path, 0) for path, _, _ in blocks) // 2,
        ))
    return costs


def cifar_shortcut_costs(depth: int = 56, shortcut: str = "B") -> list[StageCost]:
    """Per stage of a CIFAR ResNet (32x32): shortcut parameters and multiply-adds under option `shortcut`."""
    choice("shortcut", shortcut, SHORTCUTS)
    with torch.device("meta"):
        net: ResidualNet = cifar_resnet(depth, shortcut=shortcut)
    stages: dict[str, list[tuple[str, nn.Module, str]]] = {}
    for i, block in enumerate(net.blocks):
        stage = block.label.split(".")[0]
        stages.setdefault(stage, []).append((f"blocks.{i}", block, "shortcut"))
    maps = {"stage1": "32×32", "stage2": "16×16", "stage3": "8×8"}
    named = [(f"{s} ({maps[s]}, {b[0][1].conv2.out_channels} ch)", b) for s, b in stages.items()]
    return _stage_costs(net, (3, 32, 32), named)


def imagenet_shortcut_costs(name: str = "resnet50", image_size: int = 224) -> list[StageCost]:
    """Per stage of torchvision's ResNet (conv2_x .. conv5_x): projection shortcuts where the shape changes."""
    int_in("image_size", image_size, 32, 512)
    with torch.device("meta"):
        model = imagenet_resnet(name)
    stages = []
    for i in range(1, 5):
        layer = getattr(model, f"layer{i}")
        blocks = [(f"layer{i}.{j}", b, "downsample") for j, b in enumerate(layer)]
        stages.append((f"conv{i + 1}_x (layer{i})", blocks))
    return _stage_costs(model, (3, image_size, image_size), stages)
