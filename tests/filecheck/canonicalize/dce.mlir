// dce: side-effect-free ops whose results nothing uses go, whole dead chains and their
// constants with them, in every function (a WHILE's cond and body too). Kept: ops without the
// Pure trait whatever their uses (tfl.variable, tfl.while, tfl.custom), everything a function
// returns, functions and their arguments. dce takes no options: giving one is an error.
// RUN: litec opt %s -p dce | filecheck %s
// RUN: not litec opt %s -p 'dce{aggressive=true}' 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @main(%x: tensor<4xf32>, %i: tensor<i32>) -> tensor<4xf32> {
    %r = tfl.relu %x : (tensor<4xf32>) -> tensor<4xf32>
    %c = tfl.const dense_resource<dce_four> : tensor<4xf32>
    %dead = tfl.add %r, %c {fused_activation_function = "NONE"} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %dead2 = tfl.tanh %dead : (tensor<4xf32>) -> tensor<4xf32>
    %none = tfl.no_value : none
    %state = tfl.variable : tensor<4xf32>
    %custom = tfl.custom %r {custom_code = "NoSuchOp"} : (tensor<4xf32>) -> tensor<4xf32>
    %n, %v = tfl.while %i, %r {cond = @cond, body = @body} : (tensor<i32>, tensor<4xf32>) -> (tensor<i32>, tensor<4xf32>)
    func.return %r : tensor<4xf32>
  }
  func.func @cond(%i: tensor<i32>, %v: tensor<4xf32>) -> tensor<i1> {
    %limit = tfl.const dense_resource<dce_limit> : tensor<i32>
    %more = tfl.less %i, %limit : (tensor<i32>, tensor<i32>) -> tensor<i1>
    func.return %more : tensor<i1>
  }
  func.func @body(%i: tensor<i32>, %v: tensor<4xf32>) -> (tensor<i32>, tensor<4xf32>) {
    %one = tfl.const dense_resource<dce_one> : tensor<i32>
    %next = tfl.add %i, %one {fused_activation_function = "NONE"} : (tensor<i32>, tensor<i32>) -> tensor<i32>
    %unused = tfl.neg %v : (tensor<4xf32>) -> tensor<4xf32>
    func.return %next, %v : tensor<i32>, tensor<4xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      dce_four: "0x400000000000803f0000803f0000803f0000803f",
      dce_limit: "0x4000000003000000",
      dce_one: "0x4000000001000000"
    }
  }
#-}

// CHECK-LABEL: func.func @main
// CHECK-NEXT:  %[[R:.*]] = tfl.relu %x
// CHECK-NEXT:  tfl.variable : tensor<4xf32>
// CHECK-NEXT:  tfl.custom %[[R]]
// CHECK-NEXT:  tfl.while %i, %[[R]]
// CHECK-NEXT:  func.return %[[R]] :
// CHECK-LABEL: func.func @cond
// CHECK-NEXT:  tfl.const dense_resource<dce_limit>
// CHECK-NEXT:  tfl.less
// CHECK-NEXT:  func.return
// CHECK-LABEL: func.func @body
// CHECK-NEXT:  tfl.const dense_resource<dce_one>
// CHECK-NEXT:  tfl.add %i
// CHECK-NEXT:  func.return
// CHECK-NOT:   dce_four

// ERR: litec: error: bad pass pipeline 'dce{aggressive=true}': Provided arguments ["aggressive"] not found
