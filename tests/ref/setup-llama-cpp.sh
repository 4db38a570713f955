#!/bin/sh
# setup-llama-cpp.sh: builds the pinned reference peer, llama.cpp through llama-cpp-python, into
# a virtual environment (default /opt/quire-ref). Every reference file under tests/data that
# comes from llama.cpp is made with this environment by the make-*-ref.py scripts here; CI
# never builds it. AMX is off: llama.cpp's AMX path dies with SIGILL on GCC 12 (see the engine
# issue), and the reference must be the build that runs everywhere.
set -eu
VENV=${1:-/opt/quire-ref}
LLAMA_CPP_PYTHON_VERSION=0.3.16
GGUF_VERSION=0.19.0
python3 -m venv "$VENV"
CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
CMAKE_BUILD_PARALLEL_LEVEL=2 \
	"$VENV/bin/pip" install --no-cache-dir "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" \
	"gguf==$GGUF_VERSION" numpy jinja2
"$VENV/bin/python" -c 'import llama_cpp; print("llama-cpp-python", llama_cpp.__version__)'
