// pybind11 bindings: flashstream._flashstream, used by python/flashstream/__init__.py (the
// public API: FlashConfig, FlashManager, Model, Tokenizer). Every wait on the engine releases
// the GIL; a stream's next() wakes every 50 ms to let Python handle signals (Ctrl-C cancels the
// generation and raises KeyboardInterrupt). Engine errors raise FlashstreamError with the
// engine's message; bad options raise ValueError.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>  // std::vector, std::map, std::string conversions

#include <memory>

#include "engine/option_table.h"
#include "py_engine.h"

namespace py = pybind11;

namespace flashstream::python {
namespace {

// Raised for engine errors (load failures, I/O errors while generating).
struct EngineError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Named generation options (engine/option_table.h) over GenerateOptions' defaults.
GenerateOptions ToGenerateOptions(const std::map<std::string, std::string>& named,
                                  const std::vector<std::string>& stop) {
  GenerateOptions g;
  for (const auto& [name, value] : named) {
    Status s = SetOption(name, value, OptionTarget{nullptr, &g, nullptr});
    if (!s.ok()) throw py::value_error(s.message());
  }
  for (const std::string& s : stop) {
    if (s.empty()) throw py::value_error("stop: expected non-empty strings");
  }
  g.stop = stop;
  return g;
}

std::vector<ChatMessage> ToMessages(const std::vector<std::map<std::string, std::string>>& messages) {
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    auto role = messages[i].find("role");
    auto content = messages[i].find("content");
    if (role == messages[i].end() || content == messages[i].end()) {
      throw py::value_error("messages[" + std::to_string(i) + "]: expected keys 'role' and 'content'");
    }
    out.push_back({role->second, content->second});
  }
  return out;
}

// The Python-facing stream: an iterator over the pieces of one generation.
class PyStream {
 public:
  PyStream(std::shared_ptr<Engine> engine, std::vector<int32_t> prompt, GenerateOptions options)
      : stream_(std::make_unique<GenerationStream>(std::move(engine), std::move(prompt), std::move(options))) {}

  std::string Next() {
    std::string piece;
    for (;;) {
      GenerationStream::Next what;
      {
        py::gil_scoped_release release;
        what = stream_->WaitNext(50, &piece);
      }
      switch (what) {
        case GenerationStream::Next::kPiece:
          return piece;
        case GenerationStream::Next::kEnd:
          throw py::stop_iteration();
        case GenerationStream::Next::kError:
          throw EngineError(piece);
        case GenerationStream::Next::kTimeout:
          if (PyErr_CheckSignals() != 0) {  // e.g. KeyboardInterrupt: stop generating, then raise it
            stream_->Cancel();
            {
              py::gil_scoped_release release;
              stream_->Join();
            }
            throw py::error_already_set();
          }
          break;
      }
    }
  }
  void Cancel() { stream_->Cancel(); }
  // Cancels and waits for the generation thread (GIL released).
  void Close() {
    stream_->Cancel();
    py::gil_scoped_release release;
    stream_->Join();
  }
  std::string StatsJson() const { return stream_->StatsJson(); }

 private:
  std::unique_ptr<GenerationStream> stream_;
};

}  // namespace
}  // namespace flashstream::python

PYBIND11_MODULE(_flashstream, m) {
  using namespace flashstream;
  using namespace flashstream::python;
  m.doc() = "flashstream engine bindings (use the flashstream package, not this module)";
  py::register_exception<EngineError>(m, "FlashstreamError", PyExc_RuntimeError);

  m.def("option_names", [] {
    std::vector<std::string> names;
    for (std::string_view n : OptionNames()) names.emplace_back(n);
    return names;
  });

  py::class_<Engine, std::shared_ptr<Engine>>(m, "Engine")
      .def(py::init([](const std::map<std::string, std::string>& options) {
             Result<std::shared_ptr<Engine>> e = Status::Ok();
             {
               py::gil_scoped_release release;
               e = Engine::Load(options);
             }
             if (!e.ok()) {
               // Option errors name the option ("ram: expected ..."); the rest are engine errors.
               const std::string& msg = e.status().message();
               const size_t colon = msg.find(':');
               if (colon != std::string::npos && IsOptionName(msg.substr(0, colon))) throw py::value_error(msg);
               throw EngineError(msg);
             }
             return std::move(e).value();
           }),
           py::arg("options"))
      .def(
          "encode",
          [](const Engine& e, const std::string& text, bool add_special, bool parse_special) {
            return e.session().tokenizer().Encode(text, add_special, parse_special);
          },
          py::arg("text"), py::arg("add_special") = true, py::arg("parse_special") = false)
      .def("decode",
           [](const Engine& e, const std::vector<int32_t>& ids) {
             return py::bytes(e.session().tokenizer().Decode(ids)).attr("decode")("utf-8", "replace");
           })
      .def(
          "render_chat",
          [](const Engine& e, const std::vector<std::map<std::string, std::string>>& messages,
             bool add_generation_prompt) {
            Result<std::string> r = e.chat().Render(ToMessages(messages), add_generation_prompt);
            if (!r.ok()) throw py::value_error(r.status().message());
            return r.value();
          },
          py::arg("messages"), py::arg("add_generation_prompt") = true)
      .def("chat_tokens", [](const Engine& e, const std::string& rendered) { return e.chat().Tokenize(rendered); })
      .def(
          "special_ids",
          [](const Engine& e) {
            const Tokenizer& t = e.session().tokenizer();
            return std::map<std::string, int>{
                {"bos", t.bos()}, {"eos", t.eos()}, {"eot", t.eot()}, {"vocab_size", static_cast<int>(t.vocab_size())}};
          })
      .def("info",
           [](const Engine& e) {
             const Session& s = e.session();
             const ModelConfig& c = s.index().config;
             py::dict d;
             d["name"] = c.name;
             d["arch"] = c.arch;
             d["n_layers"] = c.n_layers;
             d["n_embd"] = c.n_embd;
             d["vocab_size"] = c.vocab_size;
             d["context_length"] = s.context_length();
             d["load_seconds"] = s.load_seconds();
             d["backend"] = s.backend_name();
             d["streams"] = s.plan().streams();
             d["resident_bytes"] = s.store().stats().resident_bytes;
             d["plan"] = s.plan().streams() ? s.plan().Describe() : std::string("fully resident");
             return d;
           })
      .def("cancel", &Engine::CancelActive, "cancels the generation running now (from any thread)")
      .def("reset",
           [](Engine& e) {
             std::unique_lock lock(e.run_mutex(), std::try_to_lock);
             if (!lock.owns_lock()) throw py::value_error("reset: a generation is running");
             e.mutable_session().Reset();
           })
      .def(
          "stream",
          [](std::shared_ptr<Engine> e, std::vector<int32_t> prompt, const std::map<std::string, std::string>& options,
             const std::vector<std::string>& stop) {
            if (prompt.empty()) throw py::value_error("the prompt is empty");
            return std::make_unique<PyStream>(std::move(e), std::move(prompt), ToGenerateOptions(options, stop));
          },
          py::arg("prompt"), py::arg("options"), py::arg("stop"));

  py::class_<PyStream>(m, "Stream")
      .def("__iter__", [](PyStream& s) -> PyStream& { return s; })
      .def("__next__", &PyStream::Next)
      .def("cancel", &PyStream::Cancel)
      .def("close", &PyStream::Close)
      .def("stats_json", &PyStream::StatsJson);
}
