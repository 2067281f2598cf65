// canonicalize: ops that pass an operand through unchanged are removed (identity views and
// casts, identity transpose, one-input concatenation, zero padding, whole-tensor slices, float
// x*1.0, x/1.0, x+(-0.0), x-0.0), a reshape of a view reads the view's input, and a pack of
// one tensor becomes a reshape. Kept: anything that could change a bit (x+0.0 on -0.0, a fused
// activation, a broadcast, other quantization, a reversing slice) and rewrites that would make
// a function return its argument. A constant of the wrong size is a one-line error (the ERR
// run uncomments the case at the end).
// RUN: litec opt %s -p canonicalize | filecheck %s
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p canonicalize 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @views(%x: tensor<2x4xf32>) -> (tensor<4x2xf32>, tensor<2x4xf32>) {
    %a = tfl.relu %x : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %s8 = tfl.const dense_resource<cz_shape8> : tensor<1xi32>
    %s42 = tfl.const dense_resource<cz_shape42> : tensor<2xi32>
    %s24 = tfl.const dense_resource<cz_shape24> : tensor<2xi32>
    %flat = tfl.reshape %a, %s8 : (tensor<2x4xf32>, tensor<1xi32>) -> tensor<8xf32>
    %r = tfl.reshape %flat, %s42 : (tensor<8xf32>, tensor<2xi32>) -> tensor<4x2xf32>
    %same = tfl.reshape %a, %s24 : (tensor<2x4xf32>, tensor<2xi32>) -> tensor<2x4xf32>
    %sq = tfl.squeeze %same {squeeze_dims = array<i32>} : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %c = tfl.cast %sq : (tensor<2x4xf32>) -> tensor<2x4xf32>
    func.return %r, %c : tensor<4x2xf32>, tensor<2x4xf32>
  }
  func.func @data_movement(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
    %a = tfl.relu %x : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %perm = tfl.const dense_resource<cz_perm01> : tensor<2xi32>
    %t = tfl.transpose %a, %perm : (tensor<2x4xf32>, tensor<2xi32>) -> tensor<2x4xf32>
    %cat = tfl.concatenation %t {axis = 1 : i32, fused_activation_function = "NONE"} : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %pads = tfl.const dense_resource<cz_pad0> : tensor<2x2xi32>
    %p = tfl.pad %cat, %pads : (tensor<2x4xf32>, tensor<2x2xi32>) -> tensor<2x4xf32>
    %begin = tfl.const dense_resource<cz_begin0> : tensor<2xi32>
    %size = tfl.const dense_resource<cz_shape24> : tensor<2xi32>
    %sl = tfl.slice %p, %begin, %size : (tensor<2x4xf32>, tensor<2xi32>, tensor<2xi32>) -> tensor<2x4xf32>
    %one = tfl.const dense_resource<cz_stride1> : tensor<2xi32>
    %ss = tfl.strided_slice %sl, %begin, %size, %one {begin_mask = 0 : i32, end_mask = 0 : i32, ellipsis_mask = 0 : i32, new_axis_mask = 0 : i32, shrink_axis_mask = 0 : i32, offset = false} : (tensor<2x4xf32>, tensor<2xi32>, tensor<2xi32>, tensor<2xi32>) -> tensor<2x4xf32>
    func.return %ss : tensor<2x4xf32>
  }
  func.func @neutral(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
    %a = tfl.relu %x : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %one = tfl.const dense_resource<cz_one> : tensor<2x4xf32>
    %neg0 = tfl.const dense_resource<cz_neg0> : tensor<2x4xf32>
    %pos0 = tfl.const dense_resource<cz_pos0> : tensor<2x4xf32>
    %m = tfl.mul %one, %a {fused_activation_function = "NONE"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %d = tfl.div %m, %one {fused_activation_function = "NONE"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %s = tfl.add %d, %neg0 {fused_activation_function = "NONE"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %b = tfl.sub %s, %pos0 {fused_activation_function = "NONE"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    func.return %b : tensor<2x4xf32>
  }
  func.func @quantized(%x: tensor<2x4x!quant.uniform<i8:f32, 0.5:1>>) -> (tensor<1x2x4x!quant.uniform<i8:f32, 0.5:1>>, tensor<2x4x!quant.uniform<i8:f32, 0.25:1>>) {
    %a = tfl.relu %x : (tensor<2x4x!quant.uniform<i8:f32, 0.5:1>>) -> tensor<2x4x!quant.uniform<i8:f32, 0.5:1>>
    %s24 = tfl.const dense_resource<cz_shape24> : tensor<2xi32>
    %same = tfl.reshape %a, %s24 : (tensor<2x4x!quant.uniform<i8:f32, 0.5:1>>, tensor<2xi32>) -> tensor<2x4x!quant.uniform<i8:f32, 0.5:1>>
    %pk = tfl.pack %same {values_count = 1 : i32, axis = 0 : i32} : (tensor<2x4x!quant.uniform<i8:f32, 0.5:1>>) -> tensor<1x2x4x!quant.uniform<i8:f32, 0.5:1>>
    %other = tfl.reshape %a, %s24 : (tensor<2x4x!quant.uniform<i8:f32, 0.5:1>>, tensor<2xi32>) -> tensor<2x4x!quant.uniform<i8:f32, 0.25:1>>
    func.return %pk, %other : tensor<1x2x4x!quant.uniform<i8:f32, 0.5:1>>, tensor<2x4x!quant.uniform<i8:f32, 0.25:1>>
  }
  func.func @kept(%x: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<4x2xf32>, tensor<3x4xf32>, tensor<2x4xf32>) {
    %a = tfl.neg %x : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %pos0 = tfl.const dense_resource<cz_pos0> : tensor<2x4xf32>
    %add0 = tfl.add %a, %pos0 {fused_activation_function = "NONE"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %one = tfl.const dense_resource<cz_one> : tensor<2x4xf32>
    %relu = tfl.mul %a, %one {fused_activation_function = "RELU"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %row = tfl.const dense_resource<cz_one_row> : tensor<4xf32>
    %bcast = tfl.mul %a, %row {fused_activation_function = "NONE"} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %perm = tfl.const dense_resource<cz_perm10> : tensor<2xi32>
    %t = tfl.transpose %a, %perm : (tensor<2x4xf32>, tensor<2xi32>) -> tensor<4x2xf32>
    %pads = tfl.const dense_resource<cz_pad1> : tensor<2x2xi32>
    %p = tfl.pad %a, %pads : (tensor<2x4xf32>, tensor<2x2xi32>) -> tensor<3x4xf32>
    %begin = tfl.const dense_resource<cz_begin0> : tensor<2xi32>
    %rev = tfl.const dense_resource<cz_reverse> : tensor<2xi32>
    %flip = tfl.strided_slice %a, %begin, %begin, %rev {begin_mask = 3 : i32, end_mask = 3 : i32, ellipsis_mask = 0 : i32, new_axis_mask = 0 : i32, shrink_axis_mask = 0 : i32, offset = false} : (tensor<2x4xf32>, tensor<2xi32>, tensor<2xi32>, tensor<2xi32>) -> tensor<2x4xf32>
    func.return %add0, %relu, %bcast, %t, %p, %flip : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<4x2xf32>, tensor<3x4xf32>, tensor<2x4xf32>
  }
  func.func @returns_argument(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
    %s24 = tfl.const dense_resource<cz_shape24> : tensor<2xi32>
    %same = tfl.reshape %x, %s24 : (tensor<2x4xf32>, tensor<2xi32>) -> tensor<2x4xf32>
    func.return %same : tensor<2x4xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      cz_shape8: "0x4000000008000000",
      cz_shape42: "0x400000000400000002000000",
      cz_shape24: "0x400000000200000004000000",
      cz_perm01: "0x400000000000000001000000",
      cz_perm10: "0x400000000100000000000000",
      cz_pad0: "0x4000000000000000000000000000000000000000",
      cz_pad1: "0x4000000001000000000000000000000000000000",
      cz_begin0: "0x400000000000000000000000",
      cz_stride1: "0x400000000100000001000000",
      cz_reverse: "0x40000000ffffffff01000000",
      cz_one: "0x400000000000803f0000803f0000803f0000803f0000803f0000803f0000803f0000803f",
      cz_one_row: "0x400000000000803f0000803f0000803f0000803f",
      cz_neg0: "0x400000000000008000000080000000800000008000000080000000800000008000000080",
      cz_pos0: "0x400000000000000000000000000000000000000000000000000000000000000000000000"
    }
  }
#-}

// BAD: builtin.module {
// BAD:   func.func @short_perm(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
// BAD:     %a = tfl.relu %x : (tensor<2x4xf32>) -> tensor<2x4xf32>
// BAD:     %perm = tfl.const dense_resource<cz_short> : tensor<2xi32>
// BAD:     %t = tfl.transpose %a, %perm : (tensor<2x4xf32>, tensor<2xi32>) -> tensor<2x4xf32> loc("t"("m.tflite":7:0))
// BAD:     func.return %t : tensor<2x4xf32>
// BAD:   }
// BAD: }
// BAD: {-#
// BAD:   dialect_resources: { builtin: { cz_short: "0x4000000000000000" } }
// BAD: #-}

// CHECK-LABEL: func.func @views
// CHECK:       %[[A:.*]] = tfl.relu %x
// CHECK-NEXT:  %[[S:.*]] = tfl.const dense_resource<cz_shape42>
// CHECK-NEXT:  %[[R:.*]] = tfl.reshape %[[A]], %[[S]] : (tensor<2x4xf32>, tensor<2xi32>) -> tensor<4x2xf32>
// CHECK-NEXT:  func.return %[[R]], %[[A]] :

// CHECK-LABEL: func.func @data_movement
// CHECK:       %[[A:.*]] = tfl.relu %x
// CHECK-NEXT:  func.return %[[A]] :

// CHECK-LABEL: func.func @neutral
// CHECK:       %[[A:.*]] = tfl.relu %x
// CHECK-NEXT:  func.return %[[A]] :

// CHECK-LABEL: func.func @quantized
// CHECK:       %[[A:.*]] = tfl.relu %x
// CHECK:       %[[NONE:.*]] = tfl.no_value : none
// CHECK-NEXT:  %[[PK:.*]] = tfl.reshape %[[A]], %[[NONE]] : ({{.*}}, none) -> tensor<1x2x4x!quant.uniform<i8:f32, 0.5:1>>
// CHECK-NEXT:  %[[OTHER:.*]] = tfl.reshape %[[A]], %{{.*}} -> tensor<2x4x!quant.uniform<i8:f32, 0.25:1>>
// CHECK-NEXT:  func.return %[[PK]], %[[OTHER]] :

// CHECK-LABEL: func.func @kept
// CHECK:       tfl.add
// CHECK:       tfl.mul {{.*}}fused_activation_function = "RELU"
// CHECK:       tfl.mul {{.*}}(tensor<2x4xf32>, tensor<4xf32>)
// CHECK:       tfl.transpose
// CHECK:       tfl.pad
// CHECK:       tfl.strided_slice
// CHECK:       func.return

// CHECK-LABEL: func.func @returns_argument
// CHECK:       %[[SAME:.*]] = tfl.reshape %x
// CHECK-NEXT:  func.return %[[SAME]] :

// ERR: litec: error: m.tflite: op #7 TRANSPOSE: constant 'cz_short' holds 4 bytes, its type tensor<2xi32> needs 8
