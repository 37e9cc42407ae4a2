// Where a model named on the command line (or by the server, a Modelfile, Python) lives: an
// existing file or folder is used as is; "org/name[:file]" resolves through the shared Hugging
// Face cache, downloading what is missing (src/hub/puller.h). One place, so every front end
// accepts the same names.
#pragma once

#include <string>

#include "core/status.h"
#include "hub/puller.h"

namespace flashstream {

// `options` usually comes from hub::PullOptionsFromEnv(); its callbacks show progress. A
// cached snapshot is used without a network request (options.prefer_cache is forced on).
Result<std::string> ResolveModelSource(const std::string& model, const std::string& revision,
                                       const hub::PullOptions& options);

}  // namespace flashstream
