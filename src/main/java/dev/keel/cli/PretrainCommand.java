package dev.keel.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.keel.KeelException;
import dev.keel.data.Corpus;
import dev.keel.data.LmExample;
import dev.keel.data.SftData;
import dev.keel.model.CausalLM;
import dev.keel.model.ModelInit;
import dev.keel.model.io.ConfigFactory;
import dev.keel.model.io.ModelConfig;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.BpeTokenizerJson;
import dev.keel.tokenizer.BpeTrainer;
import dev.keel.tokenizer.Tokenizer;
import dev.keel.train.CausalLMState;
import dev.keel.train.LmTask;
import dev.keel.train.OptimConfig;
import dev.keel.train.TrainConfig;
import dev.keel.train.TrainingLoop;

@Command(name = "pretrain", mixinStandardHelpOptions = true,
        description = {"Trains a small decoder from scratch on plain text: first a byte-level BPE tokenizer on the "
                + "corpus, then the model on packed blocks of --max-length tokens. Writes a Hugging Face model "
                + "folder (config.json, model.safetensors, tokenizer.json, tokenizer_config.json).",
                "Default --lr: 1e-3.",
                "Corpus files: .txt (paragraphs), .jsonl ({\"text\"}), .json (array of {\"text\"})."})
final class PretrainCommand implements Callable<Integer> {
    static final String EOS = "<|endoftext|>";

    @Spec
    CommandSpec spec;

    @Option(names = "--corpus", arity = "1..*", description = "Text files.")
    List<Path> corpus;

    @Option(names = "--vocab-size", defaultValue = "4096", description = "BPE vocabulary. Default: ${DEFAULT-VALUE}.")
    int vocabSize;

    @Option(names = "--arch", defaultValue = "llama", description = "llama or gpt2. Default: ${DEFAULT-VALUE}.")
    String arch;

    @Option(names = "--preset", description = "tiny (d=256, 4 layers, 4 heads) or small (d=384, 6 layers, 6 heads); "
            + "sizes given explicitly win.")
    String preset;

    @Option(names = "--dim") Integer dim;
    @Option(names = "--layers") Integer layers;
    @Option(names = "--heads") Integer heads;
    @Option(names = "--kv-heads", description = "Grouped-query attention (llama); default: --heads.") Integer kvHeads;
    @Option(names = "--ff", description = "MLP width; default: 8/3 d rounded to 16 (llama), 4 d (gpt2).") Integer ff;

    @Option(names = "--max-length", defaultValue = "256", description = "Block length and positions. Default: ${DEFAULT-VALUE}.")
    int maxLength;

    @Option(names = "--max-docs", defaultValue = "0", description = "Use at most this many documents (0 = all).")
    int maxDocs;

    @Mixin
    TrainOptions opts;

    /** What run_config.json records of a pretraining run. */
    record Settings(List<Path> corpus, int vocabSize, String arch, int dim, int layers, int heads, int maxLength,
                    OptimConfig optim, TrainConfig train) {}

    @Override
    public Integer call() {
        TrainOptions.required(corpus, "--corpus");
        var optim = opts.optim(1e-3);
        var train = opts.train();
        int d = dim != null ? dim : "small".equals(preset) ? 384 : 256;
        int l = layers != null ? layers : "small".equals(preset) ? 6 : 4;
        int h = heads != null ? heads : "small".equals(preset) ? 6 : 4;
        if (preset != null && !preset.equals("tiny") && !preset.equals("small")) {
            throw new IllegalArgumentException("--preset must be tiny or small, got " + preset);
        }
        if (d % h != 0) {
            throw new IllegalArgumentException("--dim " + d + " must be a multiple of --heads " + h);
        }
        // A file named twice is read twice (to weight it more); the held-out documents are chosen among the
        // distinct ones and every copy of them is kept out of training, so held-out means unseen.
        List<String> docs = new ArrayList<>(Corpus.read(corpus));
        if (maxDocs > 0 && docs.size() > maxDocs) {
            Collections.shuffle(docs, new Random(opts.seed()));
            docs = docs.subList(0, maxDocs);
        }
        List<String> distinct = new ArrayList<>(new java.util.LinkedHashSet<>(docs));
        Collections.shuffle(distinct, new Random(opts.seed()));
        int nEval = opts.evalFraction > 0 ? (int) Math.max(1, Math.round(distinct.size() * opts.evalFraction)) : 0;
        List<String> evalDocs = distinct.subList(0, nEval);
        java.util.Set<String> held = new java.util.HashSet<>(evalDocs);
        List<String> trainDocs = new ArrayList<>();
        for (String doc : docs) {
            if (!held.contains(doc)) {
                trainDocs.add(doc);
            }
        }
        Collections.shuffle(trainDocs, new Random(opts.seed() + 1));
        RunOptions.singleProcess("pretrain");
        Main.startNatives();
        RunFolder.prepare(opts.out(), opts.resume, "pretrain", new Settings(corpus, vocabSize, arch, d, l, h, maxLength,
                optim, train));
        Path out = opts.out();
        if (!opts.resume || !Files.exists(out.resolve("tokenizer.json"))) {
            long t0 = System.nanoTime();
            BpeTrainer.Result bpe = BpeTrainer.train(trainDocs, vocabSize, List.of(EOS));
            ModelFiles.writeJson(out.resolve("tokenizer.json"), BpeTokenizerJson.build(bpe.vocab(), bpe.merges(), List.of(EOS), EOS));
            ObjectNode tc = new ObjectMapper().createObjectNode();
            tc.put("tokenizer_class", "PreTrainedTokenizerFast");
            tc.put("bos_token", EOS).put("eos_token", EOS).put("pad_token", EOS).put("unk_token", EOS);
            tc.put("model_max_length", maxLength);
            tc.put("add_bos_token", true);
            ModelFiles.writeJson(out.resolve("tokenizer_config.json"), tc);
            spec.commandLine().getErr().printf("keel pretrain: BPE tokenizer with %d tokens trained on %d documents in %.1f s%n",
                    bpe.vocab().size(), trainDocs.size(), (System.nanoTime() - t0) / 1e9);
        }
        try (Tokenizer tok = Tokenizer.load(out)) {
            int eos = Math.toIntExact(tok.eosId());
            int v = Math.toIntExact(countVocab(out));
            ModelConfig cfg = switch (arch) {
                case "llama" -> ConfigFactory.llama(v, d, l, h, kvHeads != null ? kvHeads : h,
                        ff != null ? ff : (8 * d / 3 + 15) / 16 * 16, maxLength, 10000, true, eos, eos);
                case "gpt2" -> ConfigFactory.gpt2(v, d, l, h, maxLength, eos, eos);
                default -> throw new IllegalArgumentException("--arch must be llama or gpt2, got " + arch);
            };
            CausalLM model = ModelInit.random(cfg, opts.seed(), null);
            List<LmExample> trainSet = SftData.pack(encode(tok, trainDocs), maxLength);
            List<LmExample> evalSet = SftData.pack(encode(tok, evalDocs), maxLength);
            spec.commandLine().getErr().printf("keel pretrain: %s model, %,d parameters; %d training blocks, %d held-out blocks of %d tokens%n",
                    arch, model.numParameters(), trainSet.size(), evalSet.size(), maxLength);
            TrainingLoop<LmExample> loop = new TrainingLoop<>(new CausalLMState(model, out), new LmTask(model, eos),
                    optim, train, out).onInfo(spec.commandLine().getErr()::println);
            TrainingLoop.Result r = loop.run(trainSet, evalSet, opts.resume);
            Double evalLoss = r.eval().get("eval_loss");
            spec.commandLine().getOut().printf("pretrain: %d steps, last loss %s%s%n", r.steps(), r.lastLog().get("loss"),
                    evalLoss == null ? "" : String.format(", held-out loss %.4f (perplexity %.2f)", evalLoss, Math.exp(evalLoss)));
        }
        return 0;
    }

    private static List<long[]> encode(Tokenizer tok, List<String> docs) {
        List<long[]> out = new ArrayList<>();
        long eos = tok.eosId();
        for (String s : docs) {
            long[] ids = tok.encode(s, true);
            long[] withEos = java.util.Arrays.copyOf(ids, ids.length + 1);
            withEos[ids.length] = eos;
            out.add(withEos);
        }
        return out;
    }

    private static long countVocab(Path dir) {
        try {
            var root = new ObjectMapper().readTree(Files.readString(dir.resolve("tokenizer.json")));
            return root.path("model").path("vocab").size();
        } catch (java.io.IOException e) {
            throw new KeelException(dir + "/tokenizer.json: " + e.getMessage(), e);
        }
    }
}
