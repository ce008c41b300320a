# Sanitizer builds (issue 6 item 7; run by scripts/sanitize.sh).
#
# LLM_SANITIZE takes a comma- or semicolon-separated list of GCC/Clang
# sanitizers, e.g. -DLLM_SANITIZE=address,undefined. ON (the old boolean
# spelling, still in README.md) means address,undefined; OFF or empty builds
# without sanitizers. The flags go on every target (add_compile_options), so
# the tests, the tools and the service binaries the cluster tests start are
# all instrumented; CUDA sources get host flags only through -Xcompiler and
# are not instrumented (kernels/cuda/CMakeLists.txt).
set(LLM_SANITIZE "OFF" CACHE STRING
    "Sanitizers to build with: OFF, ON (= address,undefined) or a list such as address,undefined")

set(_llm_sanitize "${LLM_SANITIZE}")
if(_llm_sanitize MATCHES "^(ON|On|on|TRUE|True|true|YES|yes|1)$")
  set(_llm_sanitize "address,undefined")
elseif(_llm_sanitize MATCHES "^(OFF|Off|off|FALSE|False|false|NO|no|0)?$")
  set(_llm_sanitize "")
endif()
string(REPLACE ";" "," _llm_sanitize "${_llm_sanitize}")

if(_llm_sanitize)
  message(STATUS "Sanitizers: ${_llm_sanitize}")
  # Frame pointers make ASan's fast unwinder give whole stacks.
  set(_llm_sanitize_flags -fsanitize=${_llm_sanitize} -fno-omit-frame-pointer)
  if(_llm_sanitize MATCHES "undefined")
    # A UB report must fail the test that triggered it, not scroll past:
    # without this UBSan prints and carries on.
    list(APPEND _llm_sanitize_flags -fno-sanitize-recover=undefined)
  endif()
  add_compile_options(
    "$<$<COMPILE_LANGUAGE:C,CXX>:${_llm_sanitize_flags}>")
  add_link_options(-fsanitize=${_llm_sanitize})
endif()
