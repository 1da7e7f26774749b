package dev.keel;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import dev.keel.model.CausalLM;
import dev.keel.model.ModelInit;
import dev.keel.model.io.ConfigFactory;
import dev.keel.model.io.ModelFiles;
import dev.keel.tokenizer.BpeTokenizerJson;
import dev.keel.tokenizer.BpeTrainer;

/** Small model folders made on the fly: a BPE tokenizer trained on a few sentences and random weights. */
public final class TinyModels {
    public static final String EOS = "<|endoftext|>";
    /** A plain-text chat template over the tiny tokenizer: "E role: content\n" per turn. */
    public static final String CHAT_TEMPLATE = "{% for m in messages %}<|endoftext|>{{ m.role }}: {{ m.content }}\n{% endfor %}"
            + "{% if add_generation_prompt %}<|endoftext|>assistant: {% endif %}";

    private TinyModels() {}

    public static List<String> sentences() {
        List<String> s = new ArrayList<>();
        String[] subjects = {"The movie", "This film", "The food", "Our waiter", "The phone", "This book"};
        String[] verbs = {"was", "is", "seemed", "felt"};
        String[] adjs = {"great", "terrible", "wonderful", "awful", "fine", "boring", "amazing", "bad"};
        for (String a : subjects) {
            for (String v : verbs) {
                for (String j : adjs) {
                    s.add(a + " " + v + " " + j + ".");
                }
            }
        }
        return s;
    }

    /** A Llama-style model folder (d = 32, 2 layers) with a ~320-token BPE tokenizer that adds BOS. */
    public static Path llama(Path dir, long seed) {
        return llama(dir, seed, 64);
    }

    /** The same with {@code positions} positions (RoPE: no weights depend on it). */
    public static Path llama(Path dir, long seed, int positions) {
        try {
            Files.createDirectories(dir);
            BpeTrainer.Result bpe = BpeTrainer.train(sentences(), 320, List.of(EOS));
            ModelFiles.writeJson(dir.resolve("tokenizer.json"), BpeTokenizerJson.build(bpe.vocab(), bpe.merges(), List.of(EOS), EOS));
            Files.writeString(dir.resolve("tokenizer_config.json"),
                    "{\"bos_token\": \"<|endoftext|>\", \"eos_token\": \"<|endoftext|>\", \"pad_token\": \"<|endoftext|>\"}");
            CausalLM m = ModelInit.random(ConfigFactory.llama(bpe.vocab().size(), 32, 2, 4, 2, 64, positions, 10000, true, 0, 0),
                    seed, null);
            ModelFiles.save(m, dir);
            return dir;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * Gives every LoRA B of {@code m} values drawn from the global generator times {@code scale}, so the adapters
     * change the outputs (a fresh adapter's B is zero). The caller seeds the generator.
     */
    public static void randomiseLoraB(CausalLM m, double scale) {
        try (org.bytedeco.pytorch.NoGradGuard ng = new org.bytedeco.pytorch.NoGradGuard()) {
            for (dev.keel.model.LoraAdapters.Pair p : m.adapters().pairs().values()) {
                p.b().copy_(org.bytedeco.pytorch.global.torch.randn(p.b().size(0), p.b().size(1))
                        .mul(dev.keel.tensor.Tensors.s(scale)));
            }
        }
    }
}
