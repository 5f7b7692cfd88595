#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (fuzz/README.md): run with Debian's /usr/bin/python3
(it has onnx and numpy). Valid tiny models plus hostile variants (overflowing and zero dims, NaN
scales, levels out of range, truncated or oversized weights, offsets past the file, cycles, duplicate
and missing names, absurd attributes). The output is committed; rerun only to change the seeds."""
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "..", "..", "shared", "peer-data", "onnx-node-quant")


def out(kind, name, data):
    with open(os.path.join(HERE, "corpus", kind, name), "wb") as f:
        f.write(data)


# ---- graph_fuzzer: 8-byte seed, blocks, largest H/W, flags ---------------------------------------
def graph_seeds():
    for seed in list(range(1, 17)) + [50, 1451, 2125, 2224, 2313, 2476, 2528, 1000001, 1007094]:
        out("graph", "seed_%d" % seed, struct.pack("<QBBB", seed, 4, 8, 0))
    out("graph", "tiny_no_edges", struct.pack("<QBBB", 77, 0, 0, 7))
    out("graph", "short", b"\x05")


# ---- ONNX -----------------------------------------------------------------------------------------
def qdq(name, x, scale, zp, nodes, inits, dtype=TensorProto.UINT8):
    inits.append(helper.make_tensor(name + "_s", TensorProto.FLOAT, [], [scale]))
    inits.append(helper.make_tensor(name + "_z", dtype, [], [zp]))
    nodes.append(helper.make_node("QuantizeLinear", [x, name + "_s", name + "_z"], [name + "_q"]))
    nodes.append(helper.make_node("DequantizeLinear", [name + "_q", name + "_s", name + "_z"], [name + "_dq"]))
    return name + "_dq"


def conv_model(shape=(1, 3, 8, 8), oc=4, scale=0.02, strides=(1, 1), pads=(1, 1, 1, 1), cyclic=False,
               dup_names=False, drop_input=False, zp_in=128, out_scale=0.05, zp_out=0):
    nodes, inits = [], []
    x = qdq("in", "x", scale, zp_in, nodes, inits)
    w = (np.arange(oc * shape[1] * 9) % 7 - 3).astype(np.int8).reshape(oc, shape[1], 3, 3)
    inits.append(numpy_helper.from_array(w, "w_q"))
    inits.append(helper.make_tensor("w_s", TensorProto.FLOAT, [oc], [0.01] * oc))
    inits.append(helper.make_tensor("w_z", TensorProto.INT8, [oc], [0] * oc))
    nodes.append(helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w_dq"], axis=0))
    inits.append(numpy_helper.from_array(np.linspace(-0.1, 0.1, oc).astype(np.float32), "b"))
    conv_in = "relu_out" if cyclic else x
    nodes.append(helper.make_node("Conv", [conv_in, "w_dq", "b"], ["conv_out"], kernel_shape=[3, 3],
                                  strides=list(strides), pads=list(pads)))
    nodes.append(helper.make_node("Relu", ["conv_out"], ["relu_out"]))
    y = qdq("out", "relu_out", out_scale, zp_out, nodes, inits)
    if dup_names:
        nodes.append(helper.make_node("Relu", [y], ["relu_out"]))
    if drop_input:
        nodes[0].input[0] = "no_such_tensor"
    g = helper.make_graph(nodes, "qdq_conv",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    return m


def matmul_add_model():
    nodes, inits = [], []
    x = qdq("in", "x", 0.03, 120, nodes, inits)
    w = (np.arange(16 * 10) % 11 - 5).astype(np.int8).reshape(16, 10)
    inits.append(numpy_helper.from_array(w, "w_q"))
    inits.append(helper.make_tensor("w_s", TensorProto.FLOAT, [], [0.02]))
    inits.append(helper.make_tensor("w_z", TensorProto.INT8, [], [0]))
    nodes.append(helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w_dq"]))
    nodes.append(helper.make_node("MatMul", [x, "w_dq"], ["mm"]))
    nodes.append(helper.make_node("Add", ["mm", "mm"], ["sum"]))
    y = qdq("out", "sum", 0.1, 128, nodes, inits)
    g = helper.make_graph(nodes, "qdq_fc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16])],
                          [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def onnx_seeds():
    out("onnx", "qdq_conv.onnx", conv_model().SerializeToString())
    out("onnx", "qdq_fc.onnx", matmul_add_model().SerializeToString())
    # ONNX rounding (spec §2.5): power-of-two scales and odd zero points, so half-grid values are
    # exact ties that FakeQuantize rounding would get wrong.
    out("onnx", "qdq_conv_half_grid.onnx",
        conv_model(scale=0.0625, zp_in=129, out_scale=0.03125, zp_out=3).SerializeToString())
    out("onnx", "dims_overflow.onnx", conv_model(shape=(1 << 40, 3, 1 << 40, 8)).SerializeToString())
    out("onnx", "zero_dim.onnx", conv_model(shape=(1, 0, 8, 8)).SerializeToString())
    out("onnx", "negative_dim.onnx", conv_model(shape=(1, 3, -8, 8)).SerializeToString())
    out("onnx", "nan_scale.onnx", conv_model(scale=float("nan")).SerializeToString())
    out("onnx", "inf_scale.onnx", conv_model(scale=float("inf")).SerializeToString())
    out("onnx", "zero_scale.onnx", conv_model(scale=0.0).SerializeToString())
    out("onnx", "absurd_strides.onnx", conv_model(strides=(1 << 62, 1)).SerializeToString())
    out("onnx", "absurd_pads.onnx", conv_model(pads=(1 << 62, 0, 1 << 62, 0)).SerializeToString())
    out("onnx", "cycle.onnx", conv_model(cyclic=True).SerializeToString())
    out("onnx", "duplicate_output_name.onnx", conv_model(dup_names=True).SerializeToString())
    out("onnx", "missing_input.onnx", conv_model(drop_input=True).SerializeToString())
    m = conv_model()
    for t in m.graph.initializer:  # weights shorter than their dims say
        if t.name == "w_q":
            t.raw_data = t.raw_data[:5]
    out("onnx", "truncated_initializer.onnx", m.SerializeToString())
    m = conv_model()
    for t in m.graph.initializer:  # external data past any file
        if t.name == "w_q":
            t.ClearField("raw_data")
            t.data_location = TensorProto.EXTERNAL
            for k, v in (("location", "weights.bin"), ("offset", str(1 << 62)), ("length", "108")):
                e = t.external_data.add()
                e.key, e.value = k, v
    out("onnx", "external_data_offset.onnx", m.SerializeToString())
    data = conv_model().SerializeToString()
    out("onnx", "truncated_model.onnx", data[: len(data) // 2])
    out("onnx", "empty.onnx", b"")
    if os.path.isdir(PEER):
        for d in sorted(os.listdir(PEER)):
            p = os.path.join(PEER, d, "model.onnx")
            if os.path.isfile(p) and os.path.getsize(p) < 64 * 1024:
                with open(p, "rb") as f:
                    out("onnx", "peer_" + d + ".onnx", f.read())


# ---- OpenVINO IR: [u32 xml length][xml][bin] -------------------------------------------------------
def ir_model(dims=(1, 3, 8, 8), levels=256, fq_lo=-1.0, fq_hi=1.0, w_offset=None, w_size=None, truncate_bin=0,
             cycle=False, dup_id=False, drop_edge=False, strides="1,1"):
    c, oc = dims[1] if len(dims) > 1 else 1, 4
    consts = struct.pack("<4f", fq_lo, fq_hi, -0.5, 0.5)
    w = np.sin(np.arange(oc * 3 * 9, dtype=np.float32)).astype(np.float32) * 0.3
    binary = consts + w.tobytes()
    woff = 16 if w_offset is None else w_offset
    wsize = len(w.tobytes()) if w_size is None else w_size
    sh = ",".join(str(d) for d in dims)
    dim_xml = "".join("<dim>%d</dim>" % d for d in dims)
    odims = "<dim>1</dim><dim>%d</dim><dim>8</dim><dim>8</dim>" % oc

    def const(i, name, off, size, shape=""):
        return ('<layer id="%d" name="%s" type="Const" version="opset1"><data element_type="f32" shape="%s" '
                'offset="%d" size="%d"/><output><port id="0" precision="FP32">%s</port></output></layer>'
                % (i, name, shape, off, size, "".join("<dim>%s</dim>" % d for d in shape.split(",") if d)))

    def fq(i, name, port_dims):
        return ('<layer id="%d" name="%s" type="FakeQuantize" version="opset1"><data levels="%d" auto_broadcast="numpy"/>'
                '<input><port id="0">%s</port><port id="1"/><port id="2"/><port id="3"/><port id="4"/></input>'
                '<output><port id="5" precision="FP32">%s</port></output></layer>' % (i, name, levels, port_dims, port_dims))
    wdims = "<dim>4</dim><dim>3</dim><dim>3</dim><dim>3</dim>"
    layers = [
        '<layer id="0" name="x" type="Parameter" version="opset1"><data shape="%s" element_type="f32"/>'
        '<output><port id="0" precision="FP32">%s</port></output></layer>' % (sh, dim_xml),
        const(1, "lo", 0, 4), const(2, "hi", 4, 4), fq(3, "fq_x", dim_xml),
        const(4, "w", woff, wsize, "4,3,3,3"), const(5, "wlo", 8, 4), const(6, "whi", 12, 4),
        fq(1 if dup_id else 7, "fq_w", wdims),
        '<layer id="8" name="conv" type="Convolution" version="opset1"><data strides="%s" pads_begin="1,1" '
        'pads_end="1,1" dilations="1,1" auto_pad="explicit"/><input><port id="0">%s</port><port id="1">%s</port>'
        '</input><output><port id="2" precision="FP32">%s</port></output></layer>' % (strides, dim_xml, wdims, odims),
        '<layer id="9" name="y" type="Result" version="opset1"><input><port id="0">%s</port></input></layer>' % odims,
    ]
    edges = [(0, 0, 3, 0), (1, 0, 3, 1), (2, 0, 3, 2), (1, 0, 3, 3), (2, 0, 3, 4),
             (4, 0, 7, 0), (5, 0, 7, 1), (6, 0, 7, 2), (5, 0, 7, 3), (6, 0, 7, 4),
             (8 if cycle else 3, 2 if cycle else 5, 8, 0), (7, 5, 8, 1), (8, 2, 9, 0)]
    if drop_edge:
        edges = edges[:-1]
    xml = ('<?xml version="1.0"?>\n<net name="fq_conv" version="11"><layers>%s</layers><edges>%s</edges></net>\n'
           % ("".join(layers), "".join('<edge from-layer="%d" from-port="%d" to-layer="%d" to-port="%d"/>' % e
                                       for e in edges))).encode()
    if truncate_bin:
        binary = binary[:-truncate_bin]
    return struct.pack("<I", len(xml)) + xml + binary


def openvino_seeds():
    out("openvino", "fq_conv", ir_model())
    out("openvino", "levels_2", ir_model(levels=2))
    out("openvino", "levels_0", ir_model(levels=0))
    out("openvino", "levels_70000", ir_model(levels=70000))
    out("openvino", "nan_range", ir_model(fq_lo=float("nan")))
    out("openvino", "inf_range", ir_model(fq_hi=float("inf")))
    out("openvino", "dims_overflow", ir_model(dims=(1 << 40, 3, 1 << 40, 8)))
    out("openvino", "zero_dim", ir_model(dims=(1, 3, 0, 8)))
    out("openvino", "truncated_bin", ir_model(truncate_bin=50))
    out("openvino", "offset_past_file", ir_model(w_offset=1 << 40))
    out("openvino", "offset_overflow", ir_model(w_offset=(1 << 64) - 8))
    out("openvino", "size_oversized", ir_model(w_size=1 << 62))
    out("openvino", "cycle", ir_model(cycle=True))
    out("openvino", "duplicate_layer_id", ir_model(dup_id=True))
    out("openvino", "missing_edge", ir_model(drop_edge=True))
    out("openvino", "absurd_strides", ir_model(strides="4611686018427387904,1"))
    xml_only = ir_model()[4:]
    out("openvino", "no_length_prefix", xml_only)
    out("openvino", "truncated_xml", ir_model()[: 300])


if __name__ == "__main__":
    graph_seeds()
    onnx_seeds()
    openvino_seeds()
    for k in ("graph", "onnx", "openvino"):
        print(k, len(os.listdir(os.path.join(HERE, "corpus", k))), "seeds")
