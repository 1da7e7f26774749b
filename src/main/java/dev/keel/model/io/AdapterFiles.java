package dev.keel.model.io;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

import dev.keel.KeelException;
import dev.keel.io.AtomicFolder;
import dev.keel.io.SafeFiles;
import dev.keel.model.CausalLM;
import dev.keel.model.Head;
import dev.keel.model.LoraAdapters;
import dev.keel.model.LoraConfig;

/**
 * LoRA adapter folders in PEFT's layout ({@code PeftModel.save_pretrained}; PEFT's "checkpoint format" guide):
 * {@code adapter_config.json} (PEFT's {@code LoraConfig} fields) and {@code adapter_model.safetensors}, whose tensors
 * are named {@code base_model.model.<module>.lora_A.weight} (r, in) and {@code ...lora_B.weight} (out, r), and for a
 * reward or value model the trained head as {@code base_model.model.score.weight} (PEFT's {@code modules_to_save},
 * its {@code modules_to_save.default} part stripped as {@code get_peft_model_state_dict} strips it).
 */
public final class AdapterFiles {
    public static final String CONFIG = "adapter_config.json";
    public static final String WEIGHTS = "adapter_model.safetensors";
    /** The prefix PEFT's two wrappers ({@code PeftModel}, {@code LoraModel}) put on every tensor name. */
    public static final String PREFIX = "base_model.model.";
    private static final ObjectMapper JSON = new ObjectMapper();

    private AdapterFiles() {}

    /** Whether {@code dir} holds an adapter (its config file). */
    public static boolean isAdapter(Path dir) {
        return Files.isRegularFile(dir.resolve(CONFIG));
    }

    /**
     * Writes the adapters of {@code model} (and its scalar head) into {@code dir} all at once ({@link AtomicFolder}),
     * with the tokenizer files of {@code sideFilesFrom} when not null.
     *
     * @param base the base model's folder, recorded (absolute) as {@code base_model_name_or_path}
     */
    public static void save(CausalLM model, Path dir, Path base, Path sideFilesFrom) {
        LoraAdapters a = model.adapters();
        if (a == null) {
            throw new IllegalStateException("the model has no LoRA adapters to save");
        }
        AtomicFolder.replace(dir, n -> n.equals(CONFIG) || n.equals(WEIGHTS)
                || sideFilesFrom != null && ModelFiles.SIDE_FILES.contains(n), staging -> {
            Map<String, Tensor> out = new LinkedHashMap<>();
            a.tensors().forEach((k, v) -> out.put(PREFIX + k, v.detach()));
            if (model.head() == Head.SCORE) {
                out.put(PREFIX + CausalLM.SCORE, model.weights().get(CausalLM.SCORE).detach());
            }
            ModelFiles.checkSpace(staging, out.values().stream().mapToLong(Tensor::nbytes).sum());
            Safetensors.write(staging.resolve(WEIGHTS), out, Map.of("format", "pt"));
            ModelFiles.writeJson(staging.resolve(CONFIG), configJson(model, base));
            if (sideFilesFrom != null) {
                ModelFiles.copySideFiles(sideFilesFrom, staging);
            }
        });
    }

    /** PEFT's {@code LoraConfig.to_dict()} for {@code model}'s adapters, keys sorted as PEFT writes them. */
    private static ObjectNode configJson(CausalLM model, Path base) {
        LoraAdapters a = model.adapters();
        LoraConfig c = a.config();
        List<String> targets = c.targetModules().equals(List.of(LoraConfig.ALL_LINEAR))
                ? LoraConfig.leafNames(new ArrayList<>(a.pairs().keySet())) : c.targetModules();
        ObjectNode o = JSON.createObjectNode();
        o.putObject("alpha_pattern");
        o.putNull("auto_mapping");
        // absolute, so that PEFT's AutoPeftModel finds the base from any working directory
        o.put("base_model_name_or_path", base == null ? null : base.toAbsolutePath().normalize().toString());
        o.put("bias", "none");
        o.put("fan_in_fan_out", a.fanInFanOut());
        o.put("inference_mode", true);
        o.put("init_lora_weights", true);
        o.putNull("layers_pattern");
        o.putNull("layers_to_transform");
        if (c.alpha() == Math.rint(c.alpha())) {
            o.put("lora_alpha", (long) c.alpha()); // an int, as PEFT's LoraConfig types it
        } else {
            o.put("lora_alpha", c.alpha());
        }
        o.put("lora_dropout", c.dropout());
        if (model.head() == Head.SCORE) {
            // PeftModelForSequenceClassification adds its head names to modules_to_save
            o.putArray("modules_to_save").add("classifier").add("score");
        } else {
            o.putNull("modules_to_save");
        }
        o.put("peft_type", "LORA");
        o.put("r", c.r());
        o.putObject("rank_pattern");
        o.putNull("revision");
        targets.forEach(o.putArray("target_modules")::add);
        o.put("task_type", model.head() == Head.SCORE ? "SEQ_CLS" : "CAUSAL_LM");
        // use_dora is left out and use_rslora written only when on: both came after PEFT 0.6, and a PEFT from before
        // its forward-compatible config loading (_check_and_remove_unused_kwargs) passes every field to
        // LoraConfig(...) and fails on one it does not have; left out, both are off in every version
        if (c.rslora()) {
            o.put("use_rslora", true);
        }
        return o;
    }

    /**
     * The head an adapter folder is for: a scalar head for PEFT's {@code SEQ_CLS} task (reward and value models),
     * else a language-model head.
     */
    public static Head head(Path dir) {
        return "SEQ_CLS".equals(AdapterConfigs.read(dir).path("task_type").asText()) ? Head.SCORE : Head.LM;
    }

    /**
     * The base model of {@code baseDir} with the adapter of {@code adapterDir} on it, for a head of {@code want}: a
     * language-model adapter ({@code CAUSAL_LM}) for generating and scoring text, a {@code SEQ_CLS} one (with its
     * trained head) for a reward model.
     */
    public static CausalLM loadWithBase(Path baseDir, Path adapterDir, DType dtype, Head want) {
        Head head = head(adapterDir);
        if (head != want) {
            throw new KeelException(adapterDir.resolve(CONFIG) + ": field 'task_type' is "
                    + (head == Head.SCORE ? "SEQ_CLS (a reward or value model's adapter); use it with keel score --adapter"
                    : "not SEQ_CLS (a language model's adapter); a reward needs a SEQ_CLS adapter"));
        }
        CausalLM m = ModelFiles.load(baseDir, dtype, null, head);
        load(adapterDir, m);
        return m;
    }

    /**
     * Reads the adapter of {@code dir} (written by Keel or by PEFT) onto {@code model}, a base loaded with the
     * adapter's {@link #head}; a scalar head is replaced by the adapter's. Every problem is one line naming the file
     * and the field or tensor.
     */
    public static void load(Path dir, CausalLM model) {
        LoraConfig cfg = AdapterConfigs.config(dir);
        List<String> modules;
        try {
            modules = cfg.selectAny(new ArrayList<>(LoraAdapters.linearLayers(model).keySet()), model.config().modelType());
        } catch (KeelException e) {
            throw new KeelException(dir.resolve(CONFIG) + ": target_modules: " + e.getMessage(), e);
        }
        Map<String, long[]> expected = expectedShapes(model, cfg.r(), modules);
        Map<String, Tensor> t = readTensors(dir, model, expected);
        Map<String, LoraAdapters.Pair> pairs = new LinkedHashMap<>();
        for (String m : modules) {
            pairs.put(m, new LoraAdapters.Pair(t.get(m + ".lora_A.weight"), t.get(m + ".lora_B.weight")));
        }
        if (model.head() == Head.SCORE) {
            try (NoGradGuard ng = new NoGradGuard()) {
                model.weights().get(CausalLM.SCORE).copy_(t.get(CausalLM.SCORE));
            }
        }
        model.attach(new LoraAdapters(cfg, model.fanInFanOut(), pairs));
    }

    /** Reads what {@link #save} wrote back into the adapters (and scalar head) {@code model} already has, in place. */
    public static void loadInto(Path dir, CausalLM model) {
        Map<String, Tensor> live = model.trainable();
        Map<String, long[]> expected = new LinkedHashMap<>();
        live.forEach((k, v) -> expected.put(k, dev.keel.tensor.Tensors.shape(v)));
        Map<String, Tensor> t = readTensors(dir, model, expected);
        try (NoGradGuard ng = new NoGradGuard()) {
            live.forEach((k, v) -> v.copy_(t.get(k)));
        }
    }

    /** The tensors an adapter of rank {@code r} on {@code modules} holds, by name without the prefix, with shapes. */
    private static Map<String, long[]> expectedShapes(CausalLM model, int r, List<String> modules) {
        Map<String, long[]> linear = LoraAdapters.linearLayers(model);
        Map<String, long[]> m = new LinkedHashMap<>();
        for (String name : modules) {
            long[] outIn = linear.get(name);
            m.put(name + ".lora_A.weight", new long[] {r, outIn[1]});
            m.put(name + ".lora_B.weight", new long[] {outIn[0], r});
        }
        if (model.head() == Head.SCORE) {
            m.put(CausalLM.SCORE, new long[] {1, model.config().hiddenSize()});
        }
        return m;
    }

    /** The tensors {@code expected} names, read from {@code dir}'s weights, checked, in the model's dtype. */
    private static Map<String, Tensor> readTensors(Path dir, CausalLM model, Map<String, long[]> expected) {
        Path file = SafeFiles.inside(dir, WEIGHTS, "the adapter weights");
        if (!Files.exists(file)) {
            throw new KeelException(dir + ": no " + WEIGHTS + " (adapter_model.bin, a pickle file, is not read)");
        }
        Safetensors.Header h = Safetensors.readHeader(file);
        for (String name : h.entries().keySet()) {
            if (!name.startsWith(PREFIX) || !expected.containsKey(name.substring(PREFIX.length()))) {
                if (name.endsWith(".bias")) {
                    throw new KeelException(file + ": tensor '" + name + "' is a trained bias (" + CONFIG + " field "
                            + "'bias' \"all\" or \"lora_only\"); Keel reads lora_A, lora_B and a scalar head only");
                }
                throw new KeelException(file + ": tensor '" + name + "' is not an adapter of a module "
                        + CONFIG + " targets" + (name.contains("lora_") ? "" : " (only lora_A, lora_B and score are read)"));
            }
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            Safetensors.Entry entry = h.entries().get(PREFIX + e.getKey());
            if (entry == null) {
                throw new KeelException(file + ": tensor '" + PREFIX + e.getKey() + "' is missing");
            }
            if (!Arrays.equals(entry.shape(), e.getValue())) {
                throw new KeelException(file + ": tensor '" + entry.name() + "' has shape " + Arrays.toString(entry.shape())
                        + ", expected " + Arrays.toString(e.getValue()) + (e.getKey().equals(CausalLM.SCORE)
                        ? ": a reward or value model's head has one output (num_labels=1) over the base model's hidden size"
                        : " (r and the base model's layer sizes)"));
            }
            if (!entry.dtype().isFloatingPoint()) {
                throw new KeelException(file + ": tensor '" + entry.name() + "' has non-float dtype " + entry.dtype());
            }
            Tensor t = Safetensors.read(h, entry.name());
            if (!dev.keel.tensor.Tensors.allFinite(t)) {
                throw new KeelException(file + ": tensor '" + entry.name() + "' holds NaN or infinite values");
            }
            out.put(e.getKey(), t.to(model.device(), model.dtype().scalarType()));
        }
        return out;
    }
}
