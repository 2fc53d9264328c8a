// Parity with Python: torchvision's own resnet18 and resnet50, randomly initialized and saved
// with torch.save(model.state_dict()) by python3-torchvision at test time, must give the same
// outputs in our models (eval mode, fixed input) to 1e-4; and a file we write must load back
// into torchvision with strict=True.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/models/resnet.hpp"
#include "tomograd/models/weight_loading.hpp"
#include "tomograd/models/weights_file.hpp"

using namespace tomograd;
using namespace tomograd::models;
using test::run_command;
using test::shell_quote;

namespace {

// Writes <arch>.pth (state dict), <arch>_ref.pth ({input, output, features}) and, for resnet18,
// the same state dict in the legacy (pre-1.6) format and inside a nested training checkpoint. BatchNorm statistics are calibrated on
// random batches first so that eval mode exercises them with realistic values.
const char* kGenerate = R"PY(
import sys, torch, torchvision
out = sys.argv[1]
torch.manual_seed(1234)
for arch in ["resnet18", "resnet50"]:
    m = getattr(torchvision.models, arch)()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = None  # cumulative average
            with torch.no_grad():
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(4, 3, 64, 64))
    m.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        y = m(x)
        f = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        f = torch.flatten(m.avgpool(m.layer4(m.layer3(m.layer2(m.layer1(f))))), 1)
    torch.save(m.state_dict(), f"{out}/{arch}.pth")
    torch.save({"input": x, "output": y, "features": f}, f"{out}/{arch}_ref.pth")
    if arch == "resnet18":
        torch.save(m.state_dict(), f"{out}/{arch}_legacy.pth", _use_new_zipfile_serialization=False)
        # A training checkpoint: nested state dict of a DataParallel model, plus plain values.
        ckpt = {"model": torch.nn.DataParallel(m).state_dict(), "epoch": 3, "best_loss": 0.25,
                "arch": arch, "lr_history": [0.1, 0.01]}
        torch.save(ckpt, f"{out}/{arch}_checkpoint.pth")
)PY";

// Loads a state dict written by tomograd into torchvision's resnet18 (strict) and saves its
// output on the reference input.
const char* kCheck = R"PY(
import sys, torch, torchvision
out = sys.argv[1]
m = torchvision.models.resnet18()
sd = torch.load(f"{out}/ours.pth")
assert type(sd).__name__ == "OrderedDict", type(sd)
m.load_state_dict(sd, strict=True)
m.eval()
x = torch.load(f"{out}/resnet18_ref.pth")["input"]
with torch.no_grad():
    torch.save({"output": m(x)}, f"{out}/ours_out.pth")
)PY";

void run_python(const test::TempDir& tmp, const std::string& name, const char* script) {
  write_file_atomic(tmp / name, script);
  auto r = run_command("/usr/bin/python3 " + shell_quote((tmp / name).string()) + " " + shell_quote(tmp.path().string()));
  INFO(r.err);
  if (r.exit_code != 0 && r.err.find("No module named") != std::string::npos) {
    FAIL("python3-torch and python3-torchvision are needed: run scripts/install-deps.sh\n" << r.err);
  }
  REQUIRE(r.exit_code == 0);
}

ResNet torchvision_layout(ResNetOptions o) {
  o.in_channels = 3;
  o.head.type = HeadType::kMultiClass;
  o.head.num_classes = 1000;
  return ResNet(o);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST_CASE("parity with torchvision resnet18 and resnet50 (python3-torchvision)", "[models][slow]") {
  test::TempDir tmp;
  run_python(tmp, "generate.py", kGenerate);
  const std::vector<std::pair<std::string, ResNetOptions>> archs = {{"resnet18", ResNetOptions::resnet18()},
                                                                   {"resnet50", ResNetOptions::resnet50()}};
  torch::NoGradGuard no_grad;
  for (const auto& [arch, options] : archs) {
    INFO(arch);
    StateDict sd = read_weights(tmp / (arch + ".pth"));
    StateDict ref = read_weights(tmp / (arch + "_ref.pth"));
    ResNet model = torchvision_layout(options);
    WeightLoadOptions strict;
    strict.strict = true;
    WeightLoadReport report = load_weights(*model, sd, strict);
    CHECK(report.exact());
    model->eval();
    torch::Tensor x = ref["input"];
    const double d_out = max_abs_diff(model->forward(x), ref["output"]);
    const double d_feat = max_abs_diff(model->features(x), ref["features"]);
    logger()->info("parity {}: max |ours - torchvision| output {:.3g}, features {:.3g} (|output| max {:.3g})", arch,
                   d_out, d_feat, ref["output"].abs().max().item<double>());
    CHECK(d_out < 1e-4);
    CHECK(d_feat < 1e-4);
  }

  // The legacy format holds the same tensors.
  StateDict zip = read_weights(tmp / "resnet18.pth");
  CHECK(detect_weights_format(tmp / "resnet18_legacy.pth") == WeightsFormat::kTorchLegacy);
  StateDict legacy = read_weights(tmp / "resnet18_legacy.pth");
  REQUIRE(legacy.keys() == zip.keys());
  for (const auto& item : zip) CHECK(torch::equal(legacy[item.key()], item.value()));

  // A training checkpoint {"model": {"module.conv1.weight": ...}, "epoch": 3, ...}: keys are
  // flattened to "model.module.conv1.weight", both prefixes stripped, the numbers ignored.
  {
    ResNet model = torchvision_layout(ResNetOptions::resnet18());
    WeightLoadOptions strict;
    strict.strict = true;
    WeightLoadReport report = load_weights(*model, tmp / "resnet18_checkpoint.pth", strict);
    CHECK(report.exact());
    CHECK(report.matched.size() == 122);
    model->eval();
    StateDict ref = read_weights(tmp / "resnet18_ref.pth");
    CHECK(max_abs_diff(model->forward(ref["input"]), ref["output"]) < 1e-4);
  }

  // The other direction: our file, changed in C++, loads into torchvision (strict) and gives our output.
  ResNet model = torchvision_layout(ResNetOptions::resnet18());
  load_weights(*model, zip);
  model->named_parameters()["fc.bias"].add_(0.25);
  model->eval();
  write_torch_state_dict(tmp / "ours.pth", module_state_dict(*model));
  run_python(tmp, "check.py", kCheck);
  torch::Tensor x = read_weights(tmp / "resnet18_ref.pth")["input"];
  const double d_back = max_abs_diff(model->forward(x), read_weights(tmp / "ours_out.pth")["output"]);
  logger()->info("parity resnet18, tomograd-written file in torchvision: max |diff| {:.3g}", d_back);
  CHECK(d_back < 1e-4);
}
