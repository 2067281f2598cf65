// convert-math-to-llvm: math ops call LLVM intrinsics overloaded on their type; rsqrt is
// 1 / sqrt; tanh expands to copysign((1 - e) / (1 + e), x) with e = exp(-2|x|). Other
// dialects are left alone. math.erf has no intrinsic: a one-line error (the ERR run
// uncomments the case at the end).
// RUN: litec opt %s -p convert-math-to-llvm | filecheck %s
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p convert-math-to-llvm 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @fires(%x: f32, %v: vector<16xf32>, %n: i32) {
    %0 = math.exp %v : vector<16xf32>
    %1 = math.fma %v, %v, %0 : vector<16xf32>
    %2 = math.rsqrt %x : f32
    %3 = math.tanh %v : vector<16xf32>
    %4 = math.absi %n : i32
    func.return
  }

  func.func @leaves_other_dialects(%a: f32) -> f32 {
    %b = arith.mulf %a, %a : f32
    func.return %b : f32
  }
}

// CHECK-LABEL: func.func @fires
// CHECK:      %[[E:.*]] = llvm.call_intrinsic "llvm.exp.v16f32"(%v) : (vector<16xf32>) -> vector<16xf32>
// CHECK-NEXT: llvm.call_intrinsic "llvm.fma.v16f32"(%v, %v, %[[E]])
// CHECK-NEXT: %[[ONE:.*]] = llvm.mlir.constant(1.000000e+00 : f32) : f32
// CHECK-NEXT: %[[ROOT:.*]] = llvm.call_intrinsic "llvm.sqrt.f32"(%x) : (f32) -> f32
// CHECK-NEXT: llvm.fdiv %[[ONE]], %[[ROOT]] : f32
// CHECK-NEXT: %[[ABS:.*]] = llvm.call_intrinsic "llvm.fabs.v16f32"(%v)
// CHECK-NEXT: %[[M2:.*]] = llvm.mlir.constant(dense<-2.000000e+00> : vector<16xf32>) : vector<16xf32>
// CHECK-NEXT: %[[ONES:.*]] = llvm.mlir.constant(dense<1.000000e+00> : vector<16xf32>) : vector<16xf32>
// CHECK-NEXT: %[[S:.*]] = llvm.fmul %[[ABS]], %[[M2]] : vector<16xf32>
// CHECK-NEXT: %[[EXP:.*]] = llvm.call_intrinsic "llvm.exp.v16f32"(%[[S]])
// CHECK-NEXT: %[[NUM:.*]] = llvm.fsub %[[ONES]], %[[EXP]] : vector<16xf32>
// CHECK-NEXT: %[[DEN:.*]] = llvm.fadd %[[ONES]], %[[EXP]] : vector<16xf32>
// CHECK-NEXT: %[[Q:.*]] = llvm.fdiv %[[NUM]], %[[DEN]] : vector<16xf32>
// CHECK-NEXT: llvm.call_intrinsic "llvm.copysign.v16f32"(%[[Q]], %v)
// CHECK-NEXT: %[[FALSE:.*]] = llvm.mlir.constant(false) : i1
// CHECK-NEXT: llvm.call_intrinsic "llvm.abs.i32"(%n, %[[FALSE]]) : (i32, i1) -> i32
// CHECK-NOT:  math.
// CHECK-LABEL: func.func @leaves_other_dialects
// CHECK-NEXT: arith.mulf %a, %a : f32

// BAD: builtin.module {
// BAD:   func.func @erf(%x: f32) -> f32 {
// BAD:     %0 = math.erf %x : f32
// BAD:     func.return %0 : f32
// BAD:   }
// BAD: }

// ERR: litec: error: math.erf: no LLVM intrinsic; expand it into a polynomial first
