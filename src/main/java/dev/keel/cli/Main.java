package dev.keel.cli;

import java.io.PrintWriter;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import dev.keel.KeelException;
import dev.keel.io.OutputLock;
import dev.keel.runtime.Natives;

@Command(name = "keel", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Align causal language models with human preferences on the JVM.",
        subcommands = {DemoCommand.class, ExperimentCommand.class, PretrainCommand.class, SftCommand.class, RewardCommand.class, DpoCommand.class,
                KtoCommand.class, OrpoCommand.class, CpoCommand.class,
                RlCommands.PpoCmd.class, RlCommands.RlooCmd.class, RlCommands.GrpoCmd.class, RlCommands.OnlineDpoCmd.class,
                GenerateCommand.class, ScoreCommand.class, MergeCommand.class,
                LogprobsCommand.class, TokenizeCommand.class, BenchCommand.class, LaunchCommand.class,
                CommandLine.HelpCommand.class})
/** The {@code keel} command line: picocli subcommands, {@code --config} defaults, errors as one line and exit 1. */
public final class Main implements Runnable {

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(String[] args) {
        // the launcher runs a private copy of the jar and execs this JVM (so signals reach it); the copy goes
        // when the JVM exits normally or by SIGTERM/SIGINT
        String copy = System.getProperty("keel.jar.copy");
        if (copy != null) {
            new java.io.File(copy).deleteOnExit();
        }
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
        cl.setExecutionStrategy(parsed -> {
            CommandLine.ParseResult last = parsed;
            while (last.hasSubcommand()) {
                last = last.subcommand();
            }
            String problem = OptionChecks.problem(last.commandSpec());
            if (problem == null) {
                problem = ComputeOptions.problem(last.commandSpec());
            }
            if (problem != null) {
                err.println("keel " + last.commandSpec().name() + ": error: " + problem);
                return 1;
            }
            try (dev.keel.model.Compute c = ComputeOptions.scope(last.commandSpec())) {
                return new CommandLine.RunLast().execute(parsed);
            }
        });
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            err.println("keel " + cmd.getCommandName() + ": error: " + describe(ex));
            if (System.getenv("KEEL_DEBUG") != null) {
                ex.printStackTrace(err);
            }
            return 1;
        });
        try {
            return cl.execute(args);
        } finally {
            OutputLock.releaseAll();
        }
    }

    /**
     * One line for an exception: the message of a {@link KeelException} or a bad option as it is; anything else
     * (a bug, or libtorch refusing) by its type and message, never a stack trace (KEEL_DEBUG=1 prints it).
     */
    static String describe(Throwable ex) {
        if (ex instanceof KeelException || ex instanceof IllegalArgumentException) {
            return ex.getMessage();
        }
        if (ex instanceof OutOfMemoryError) {
            return "out of memory (" + ex.getMessage() + "); use smaller batches or a smaller model";
        }
        String msg = String.valueOf(ex.getMessage()).lines().findFirst().orElse("");
        return "unexpected " + ex.getClass().getSimpleName() + ": " + msg + " (KEEL_DEBUG=1 shows where)";
    }

    /** Shared start-up for commands that use libtorch. */
    static void startNatives() {
        Natives.init();
    }

    /** {@code keel --version}: the version, and what the native side runs with (threads, malloc, OpenBLAS). */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"keel 0.1.0", "runtime: " + Natives.summary() + ", batch-1 decoding products "
                    + dev.keel.model.CausalLM.rowKernels()};
        }
    }
}
