// propagate-layout: transposes move through elementwise ops (a per-channel constant is
// re-laid out), PAD (paddings permuted), CONCATENATION (axis remapped) and MEAN (axes
// remapped) until they cancel. It must not fire where moving only moves a transpose, or
// through a SOFTMAX whose last axis the transpose moves. A constant that is not a
// permutation is an error.
// RUN: litec opt %s -p propagate-layout --no-resources | filecheck %s
// RUN: litec opt %s -p propagate-layout | filecheck %s --check-prefix=DATA
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p propagate-layout 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @block(%x: tensor<1x2x2x3xf32>) -> tensor<1x2x6x5xf32> {
    %nchw = tfl.const dense_resource<pl_nchw> : tensor<4xi32>
    %nhwc = tfl.const dense_resource<pl_nhwc> : tensor<4xi32>
    %c = tfl.const dense_resource<pl_chan> : tensor<1x3x1x1xf32>
    %pads = tfl.const dense_resource<pl_pads> : tensor<4x2xi32>
    %a = tfl.transpose %x, %nchw : (tensor<1x2x2x3xf32>, tensor<4xi32>) -> tensor<1x3x2x2xf32>
    %b = tfl.add %a, %c {fused_activation_function = "NONE"} : (tensor<1x3x2x2xf32>, tensor<1x3x1x1xf32>) -> tensor<1x3x2x2xf32>
    %r = tfl.relu %b : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
    %p = tfl.pad %r, %pads : (tensor<1x3x2x2xf32>, tensor<4x2xi32>) -> tensor<1x5x2x6xf32>
    %t = tfl.transpose %p, %nhwc : (tensor<1x5x2x6xf32>, tensor<4xi32>) -> tensor<1x2x6x5xf32>
    func.return %t : tensor<1x2x6x5xf32>
  }
  func.func @concat_mean(%x: tensor<1x2x2x3xf32>, %y: tensor<1x2x2x3xf32>) -> tensor<1x6xf32> {
    %nchw = tfl.const dense_resource<pl_nchw> : tensor<4xi32>
    %hw = tfl.const dense_resource<pl_hw> : tensor<2xi32>
    %a = tfl.transpose %x, %nchw : (tensor<1x2x2x3xf32>, tensor<4xi32>) -> tensor<1x3x2x2xf32>
    %b = tfl.transpose %y, %nchw : (tensor<1x2x2x3xf32>, tensor<4xi32>) -> tensor<1x3x2x2xf32>
    %cat = tfl.concatenation %a, %b {axis = 1 : i32, fused_activation_function = "NONE"} : (tensor<1x3x2x2xf32>, tensor<1x3x2x2xf32>) -> tensor<1x6x2x2xf32>
    %m = tfl.mean %cat, %hw {keep_dims = false} : (tensor<1x6x2x2xf32>, tensor<2xi32>) -> tensor<1x6xf32>
    func.return %m : tensor<1x6xf32>
  }
  func.func @not_moved(%x: tensor<1x2x2x3xf32>) -> (tensor<1x3x2x2xf32>, tensor<1x2x2x3xf32>) {
    %nchw = tfl.const dense_resource<pl_nchw> : tensor<4xi32>
    %nhwc = tfl.const dense_resource<pl_nhwc> : tensor<4xi32>
    // moving the transpose past the relu would only move it
    %a = tfl.transpose %x, %nchw : (tensor<1x2x2x3xf32>, tensor<4xi32>) -> tensor<1x3x2x2xf32>
    %r = tfl.relu %a : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
    // softmax over an axis the transpose moves
    %b = tfl.transpose %x, %nchw : (tensor<1x2x2x3xf32>, tensor<4xi32>) -> tensor<1x3x2x2xf32>
    %s = tfl.softmax %b {beta = 1.0 : f32} : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
    %t = tfl.transpose %s, %nhwc : (tensor<1x3x2x2xf32>, tensor<4xi32>) -> tensor<1x2x2x3xf32>
    func.return %r, %t : tensor<1x3x2x2xf32>, tensor<1x2x2x3xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      pl_nchw: "0x0400000000000000030000000100000002000000",
      pl_nhwc: "0x0400000000000000020000000300000001000000",
      pl_chan: "0x040000000000803f0000004000004040",
      pl_hw: "0x040000000200000003000000",
      pl_pads: "0x040000000000000000000000010000000100000000000000000000000200000002000000"
    }
  }
#-}

// CHECK-LABEL: func.func @block
// CHECK-NOT:     tfl.transpose
// CHECK:         %[[C:.*]] = tfl.const dense_resource<pl_chan_perm> : tensor<1x1x1x3xf32>
// CHECK-NEXT:    %[[B:.*]] = tfl.add %x, %[[C]] {fused_activation_function = "NONE"} : (tensor<1x2x2x3xf32>, tensor<1x1x1x3xf32>) -> tensor<1x2x2x3xf32>
// CHECK-NEXT:    %[[R:.*]] = tfl.relu %[[B]] : (tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
// CHECK-NEXT:    %[[P:.*]] = tfl.const dense_resource<pl_pads_perm> : tensor<4x2xi32>
// CHECK-NEXT:    %[[T:.*]] = tfl.pad %[[R]], %[[P]] : (tensor<1x2x2x3xf32>, tensor<4x2xi32>) -> tensor<1x2x6x5xf32>
// CHECK-NEXT:    func.return %[[T]]
// CHECK-LABEL: func.func @concat_mean
// CHECK-NEXT:    %[[CAT:.*]] = tfl.concatenation %x, %y {axis = 3 : i32, fused_activation_function = "NONE"} : (tensor<1x2x2x3xf32>, tensor<1x2x2x3xf32>) -> tensor<1x2x2x6xf32>
// CHECK-NEXT:    %[[AXES:.*]] = tfl.const dense_resource<pl_hw_perm> : tensor<2xi32>
// CHECK-NEXT:    %[[M:.*]] = tfl.mean %[[CAT]], %[[AXES]] {keep_dims = false} : (tensor<1x2x2x6xf32>, tensor<2xi32>) -> tensor<1x6xf32>
// CHECK-NEXT:    func.return %[[M]]
// CHECK-LABEL: func.func @not_moved
// CHECK:         tfl.transpose
// CHECK-NEXT:    tfl.relu
// CHECK-NEXT:    tfl.transpose
// CHECK-NEXT:    tfl.softmax
// CHECK-NEXT:    tfl.transpose

// The constants re-laid out: [1, 2, 3] per channel, paddings of (N, H, W, C), axes (H, W).
// DATA-DAG: pl_chan_perm: "0x{{[0-9a-f]+}}0000803f0000004000004040"
// DATA-DAG: pl_pads_perm: "0x{{[0-9a-f]+}}0000000000000000000000000000000002000000020000000100000001000000"
// DATA-DAG: pl_hw_perm: "0x{{[0-9a-f]+}}0100000002000000"

// BAD: builtin.module {
// BAD:   func.func @main(%x: tensor<1x2x3x4xf32>) -> tensor<1x2x2x3xf32> {
// BAD:     %bad = tfl.const dense_resource<pl_bad> : tensor<4xi32>
// BAD:     %a = tfl.transpose %x, %bad : (tensor<1x2x3x4xf32>, tensor<4xi32>) -> tensor<1x2x2x3xf32> loc("a"("m.tflite":3:0))
// BAD:     %b = tfl.relu %a : (tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
// BAD:     func.return %b : tensor<1x2x2x3xf32>
// BAD:   }
// BAD: }
// BAD: {-#
// BAD:   dialect_resources: { builtin: {
// BAD:     pl_bad: "0x0400000000000000000000000100000002000000"
// BAD:   } }
// BAD: #-}

// ERR: litec: error: m.tflite: op #3 TRANSPOSE: [0, 0, 1, 2] is not a permutation of 4 axes
