// REQUIRES: corpus
// Control flow: every subgraph becomes a function, WHILE names its cond and body.
// RUN: litec opt %corpus/lstm_keras3_while_fp32.tflite --no-resources | filecheck %s
// The integer LSTM keeps its 24 inputs (absent ones are tfl.no_value) and its
// intermediate gate scales.
// RUN: litec opt %corpus/lstm_int8.tflite --no-resources | filecheck %s --check-prefix=LSTM

// CHECK: func.func @main
// CHECK: tfl.while {{.*}} {cond = @subgraph_1, body = @subgraph_2}
// CHECK: func.func @subgraph_1
// CHECK: tfl.less
// CHECK: func.func @subgraph_2
// CHECK: tfl.fully_connected

// LSTM: %[[NONE:.*]] = tfl.no_value : none
// LSTM: tfl.variable : tensor<1x{{[0-9]+}}x!quant.uniform<i16:f32,
// LSTM: tfl.unidirectional_sequence_lstm
// LSTM-SAME: time_major = false
// LSTM-SAME: intermediates = [tensor<
