{
  "targets": [
    {
      "target_name": "vuos_native",
      "sources": ["src/addon.cc", "src/spawn.cc", "src/listener.cc", "src/memory.cc", "src/ptrace.cc", "src/paths.cc", "src/packet.cc", "src/devices.cc", "src/netstack.cc", "src/clock.cc", "src/vdso.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]
    }
  ]
}
