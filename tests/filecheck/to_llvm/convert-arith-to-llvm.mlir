// convert-arith-to-llvm: arith ops become LLVM instructions and intrinsics (flags kept,
// index as i64, expansions for floordiv); other dialects are left alone; ops on tensors
// are a one-line error. The error case is commented out so the module above parses; the
// ERR run uncomments it.
// RUN: litec opt %s -p convert-arith-to-llvm | filecheck %s
// RUN: sed -n 's|^// BAD: ||p' %s > %t.bad.mlir
// RUN: not litec opt %t.bad.mlir -p convert-arith-to-llvm 2>&1 | filecheck %s --check-prefix=ERR

builtin.module {
  func.func @fires(%a: i32, %b: i32, %x: f32, %v: vector<16xf32>, %w: vector<16xi32>, %i: index) -> i32 {
    %0 = arith.addi %a, %b overflow<nsw> : i32
    %1 = arith.maxsi %0, %b : i32
    %2 = arith.mulf %v, %v fastmath<fast> : vector<16xf32>
    %3 = arith.minui %w, %w : vector<16xi32>
    %4 = arith.maximumf %v, %2 : vector<16xf32>
    %5 = arith.cmpf olt, %x, %x : f32
    %6 = arith.select %5, %a, %b : i32
    %7 = arith.index_cast %i : index to i32
    %8 = arith.fptosi %x : f32 to i32
    %9 = arith.uitofp %a : i32 to f32
    %10 = arith.extsi %a : i32 to i64
    %11 = arith.constant dense<1.5> : vector<16xf32>
    %12 = arith.constant 7 : index
    %13 = arith.floordivsi %a, %b : i32
    func.return %1 : i32
  }

  func.func @leaves_other_dialects(%m: memref<4xf32>, %i: index) -> f32 {
    %0 = memref.load %m[%i] : memref<4xf32>
    func.return %0 : f32
  }
}

// CHECK-LABEL: func.func @fires
// CHECK-NEXT: %[[I64:.*]] = builtin.unrealized_conversion_cast %i : index to i64
// CHECK-NEXT: %[[SUM:.*]] = llvm.add %a, %b overflow<nsw> : i32
// CHECK-NEXT: llvm.call_intrinsic "llvm.smax.i32"(%[[SUM]], %b) : (i32, i32) -> i32
// CHECK-NEXT: %[[SQ:.*]] = llvm.fmul %v, %v {fastmathFlags = #llvm.fastmath<fast>} : vector<16xf32>
// CHECK-NEXT: llvm.call_intrinsic "llvm.umin.v16i32"(%w, %w)
// CHECK-NEXT: llvm.call_intrinsic "llvm.maximum.v16f32"(%v, %[[SQ]])
// CHECK-NEXT: %[[LT:.*]] = llvm.fcmp "olt" %x, %x : f32
// CHECK-NEXT: llvm.select %[[LT]], %a, %b : i1, i32
// CHECK-NEXT: llvm.trunc %[[I64]] : i64 to i32
// CHECK-NEXT: llvm.fptosi %x : f32 to i32
// CHECK-NEXT: llvm.uitofp %a : i32 to f32
// CHECK-NEXT: llvm.sext %a : i32 to i64
// CHECK-NEXT: llvm.mlir.constant(dense<1.500000e+00> : vector<16xf32>) : vector<16xf32>
// CHECK-NEXT: llvm.mlir.constant(7) : i64
// CHECK:      llvm.sdiv %a, %b : i32
// CHECK-NEXT: llvm.srem %a, %b : i32
// CHECK:      llvm.select
// CHECK-NOT:  arith.
// CHECK-LABEL: func.func @leaves_other_dialects
// CHECK-NEXT: memref.load %m[%i] : memref<4xf32>

// BAD: builtin.module {
// BAD:   func.func @tensor(%a: tensor<4xf32>) -> tensor<4xf32> {
// BAD:     %0 = arith.addf %a, %a : tensor<4xf32>
// BAD:     func.return %0 : tensor<4xf32>
// BAD:   }
// BAD: }

// ERR: litec: error: arith.addf: only scalars and 1-D vectors are supported (tensor<4xf32>)
