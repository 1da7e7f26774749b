package dev.keel.cli;

import java.io.PrintWriter;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import dev.keel.KeelException;
import dev.keel.runtime.Natives;

@Command(name = "keel", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Align causal language models with human preferences on the JVM.",
        subcommands = {DemoCommand.class, ExperimentCommand.class, PretrainCommand.class, SftCommand.class, RewardCommand.class, DpoCommand.class,
                KtoCommand.class, OrpoCommand.class, CpoCommand.class,
                RlCommands.PpoCmd.class, RlCommands.RlooCmd.class, RlCommands.GrpoCmd.class, RlCommands.OnlineDpoCmd.class,
                GenerateCommand.class, ScoreCommand.class,
                LogprobsCommand.class, TokenizeCommand.class, BenchCommand.class,
                CommandLine.HelpCommand.class})
/** The {@code keel} command line: picocli subcommands, {@code --config} defaults, errors as one line and exit 1. */
public final class Main implements Runnable {

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs a command line; returns the exit code (0 ok, 1 bad input or failure, 2 usage error). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(out);
        cl.setErr(err);
        java.nio.file.Path config = YamlDefaults.configArg(args);
        if (config != null) {
            try {
                cl.setDefaultValueProvider(YamlDefaults.load(config, cl, args));
            } catch (KeelException e) {
                err.println("keel: error: " + e.getMessage());
                return 1;
            }
        }
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            if (ex instanceof KeelException || ex instanceof IllegalArgumentException) {
                err.println("keel " + cmd.getCommandName() + ": error: " + ex.getMessage());
                return 1;
            }
            throw ex;
        });
        return cl.execute(args);
    }

    /** Shared start-up for commands that use libtorch. */
    static void startNatives() {
        Natives.init();
    }

    /** {@code keel --version}: the version, and what the native side runs with (threads, malloc, OpenBLAS). */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"keel 0.1.0", "runtime: " + Natives.summary()};
        }
    }
}
