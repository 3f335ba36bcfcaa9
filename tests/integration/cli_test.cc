// The nfsprov binary's command line: every subcommand answers --help, `version` prints the build's
// version, and what the binary does not know is refused with a message naming it.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/run_command.h"

namespace nfsprov {
namespace {

using ::testing::HasSubstr;
using testing::CommandResult;
using testing::RunCommand;

const std::vector<std::string> kSubcommands = {"controller", "node", "lockd", "fuse-mount", "lock", "volumes",
                                               "version"};

TEST(CliTest, TopLevelHelpListsEverySubcommand) {
  CommandResult run = RunCommand({NFSPROV_BINARY, "--help"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  for (const std::string& name : kSubcommands) EXPECT_THAT(run.out, HasSubstr("\n  " + name + " ")) << name;
}

TEST(CliTest, EverySubcommandAnswersHelp) {
  for (const std::string& name : kSubcommands) {
    CommandResult run = RunCommand({NFSPROV_BINARY, name, "--help"});
    EXPECT_EQ(run.exit_code, 0) << name << ": " << run.err;
    EXPECT_THAT(run.out, HasSubstr("Usage: ")) << name;
    EXPECT_THAT(run.out, HasSubstr(" " + name)) << name;
    EXPECT_THAT(run.out, HasSubstr("--help")) << name;
  }
}

TEST(CliTest, ServersShareTheirOperationalFlags) {
  for (const std::string name : {"controller", "node", "lockd"}) {
    CommandResult run = RunCommand({NFSPROV_BINARY, name, "--help"});
    for (const std::string flag : {"--endpoint", "--log-format", "--log-level", "--shutdown-grace",
                                   "--metrics-address"})
      EXPECT_THAT(run.out, HasSubstr(flag)) << name;
  }
}

TEST(CliTest, VersionIsTheBuildsVersion) {
  CommandResult run = RunCommand({NFSPROV_BINARY, "version"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "nfsprov " NFSPROV_VERSION "\n");
}

TEST(CliTest, UnknownFlagsAndSubcommandsAreRefusedByName) {
  CommandResult flag = RunCommand({NFSPROV_BINARY, "controller", "--endpoint", "unix:///nonexistent/csi.sock",
                                   "--no-such-flag"});
  EXPECT_NE(flag.exit_code, 0);
  EXPECT_THAT(flag.err, HasSubstr("--no-such-flag"));
  CommandResult missing = RunCommand({NFSPROV_BINARY, "node"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("--endpoint is required"));
  CommandResult none = RunCommand({NFSPROV_BINARY});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_THAT(none.err, HasSubstr("subcommand is required"));
}

}  // namespace
}  // namespace nfsprov
