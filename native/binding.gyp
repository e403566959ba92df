{
  "variables": {
    "gantry_march_native%": 1
  },
  "targets": [
    {
      "target_name": "gantry_native",
      "sources": ["src/binding.cc", "src/gemm.cc", "src/elementwise.cc"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"],
      "ldflags": ["-pthread"],
      "conditions": [
        ["gantry_march_native==1", { "cflags_cc": ["-march=native"] }]
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"]
      }
    }
  ]
}
