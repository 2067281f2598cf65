// REQUIRES: corpus
// The importer on a full-integer keyword spotter: quantized types, per-channel weights,
// options as properties, locations with the TFLite operator index.
// RUN: litec opt %corpus/kws_dscnn_int8.tflite --no-resources | filecheck %s
// RUN: litec opt %corpus/kws_dscnn_int8.tflite -o %t.mlir && litec opt %t.mlir --no-resources | filecheck %s
// RUN: litec opt %corpus/kws_dscnn_int8.tflite --no-resources | filecheck %s --check-prefix=LOC

// CHECK:      builtin.module attributes {tfl.source = "kws_dscnn_int8.tflite"
// CHECK:      func.func @main(%[[X:.*]]: tensor<1x49x40x1x!quant.uniform<i8:f32, 0.03374939784407616:-4>> {tfl.name = "serving_default_input:0"}
// CHECK-SAME:   -> (tensor<1x12x!quant.uniform<i8:f32, 0.00390625:-128>> {tfl.name = "StatefulPartitionedCall_1:0"})
// CHECK:      %[[W:.*]] = tfl.const dense_resource<{{.*}}> : tensor<64x10x4x1x!quant.uniform<i8:f32:0, {
// CHECK:      %[[B:.*]] = tfl.const dense_resource<{{.*}}> : tensor<64x!quant.uniform<i32:f32:0, {
// CHECK:      tfl.conv_2d %[[X]], %[[W]], %[[B]] {
// CHECK-SAME:   padding = "SAME"
// CHECK-SAME:   fused_activation_function = "RELU"
// CHECK:      tfl.depthwise_conv_2d
// CHECK-SAME:   depth_multiplier = 1 : i32
// CHECK:      tfl.mean
// CHECK:      tfl.fully_connected
// CHECK:      tfl.softmax {{.*}}beta = 1.000000e+00 : f32
// CHECK:      func.return

// LOC: tfl.conv_2d {{.*}} loc("{{.*}}"("kws_dscnn_int8.tflite":0:0))
// LOC: tfl.softmax {{.*}} loc("{{.*}}"("kws_dscnn_int8.tflite":11:0))
