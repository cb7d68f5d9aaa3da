#include "models/checkpoints/pickle.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>
#include <unordered_map>

#include "models/checkpoints/byte_cursor.h"
#include "models/checkpoints/pickle_globals.h"
#include "models/error.h"

namespace vitscope::pickle {

namespace {

class Unpickler : ByteCursor {
public:
    Unpickler(const char *data, std::size_t size, const std::string &source, const Limits &limits)
        : ByteCursor(data, size, source), m_limits(limits)
    {
    }

    Result run()
    {
        while (true) {
            if (m_p >= m_end)
                fail("ends without a STOP opcode (truncated?)");
            const unsigned char op = *m_p++;
            if (op == '.') {
                if (m_stack.size() != 1 || !m_marks.empty())
                    fail("STOP with " + std::to_string(m_stack.size()) + " values on the stack");
                Result r;
                r.root = m_stack.back();
                r.placeholderGlobals.assign(m_placeholders.begin(), m_placeholders.end());
                return r;
            }
            step(op);
        }
    }

private:
    ValuePtr make(Kind kind)
    {
        if (++m_values > m_limits.maxValues)
            fail("more than " + std::to_string(m_limits.maxValues) + " values");
        auto v = std::make_shared<Value>();
        v->kind = kind;
        return v;
    }
    void push(ValuePtr v)
    {
        if (m_stack.size() >= m_limits.maxStack)
            fail("stack deeper than " + std::to_string(m_limits.maxStack));
        m_stack.push_back(std::move(v));
    }
    ValuePtr pop()
    {
        if (m_stack.empty() || (!m_marks.empty() && m_stack.size() <= m_marks.back()))
            fail("pops from an empty stack");
        ValuePtr v = std::move(m_stack.back());
        m_stack.pop_back();
        return v;
    }
    ValuePtr &top()
    {
        if (m_stack.empty() || (!m_marks.empty() && m_stack.size() <= m_marks.back()))
            fail("reads an empty stack");
        return m_stack.back();
    }
    std::vector<ValuePtr> popToMark()
    {
        if (m_marks.empty())
            fail("needs a MARK that is not there");
        const std::size_t at = m_marks.back();
        m_marks.pop_back();
        std::vector<ValuePtr> items(std::make_move_iterator(m_stack.begin() + std::ptrdiff_t(at)),
                                    std::make_move_iterator(m_stack.end()));
        m_stack.resize(at);
        return items;
    }

    // `child` goes inside `parent`: it can no longer change, and parent's depth grows.
    void nest(Value &parent, Value &child)
    {
        if (&parent == &child)
            fail("places a value inside itself (a recursive structure; checkpoints hold none)");
        child.sealed = true;
        parent.depth = std::max(parent.depth, child.depth + 1);
        if (parent.depth > m_limits.maxDepth)
            fail("nested deeper than " + std::to_string(m_limits.maxDepth) + " levels");
    }
    void requireMutable(const Value &v, const char *op)
    {
        if (v.sealed)
            fail(std::string(op) + " changes a container that already sits inside another value "
                                   "(a recursive structure; checkpoints hold none)");
    }
    ValuePtr tuple(std::vector<ValuePtr> items)
    {
        ValuePtr t = make(Kind::Tuple);
        for (auto &i : items)
            nest(*t, *i);
        t->items = std::move(items);
        return t;
    }

    void memoPut(uint64_t index)
    {
        if (m_memo.size() >= m_limits.maxMemo && !m_memo.count(index))
            fail("more than " + std::to_string(m_limits.maxMemo) + " memo entries");
        m_memo[index] = top();
    }
    void memoGet(uint64_t index)
    {
        auto it = m_memo.find(index);
        if (it == m_memo.end())
            fail("memo index " + std::to_string(index) + " was never stored");
        push(it->second);
    }

    static int64_t toInt(const Value &v, bool &ok)
    {
        ok = v.kind == Kind::Int || v.kind == Kind::Bool;
        return v.kind == Kind::Bool ? int64_t(v.boolean) : v.integer;
    }

    ValuePtr global(const std::string &module, const std::string &name)
    {
        const std::string full = module + "." + name;
        if (runsCode(module, name))
            fail("refused: it names " + full + ", which runs code; vitscope never runs code from a checkpoint, "
                 "and weights files need no such global");
        ValuePtr g = make(Kind::Global);
        g->text = full;
        c10::ScalarType dt;
        if (storageTypeDtype(full, dt)) {
            g->dtype = dt;
        } else if (dtypeGlobal(full, dt)) {
            g->kind = Kind::Dtype;
            g->dtype = dt;
        } else if (!isAllowedGlobal(full)) {
            m_placeholders.insert(full);
        }
        return g;
    }
    ValuePtr rebuildTensor(const std::vector<ValuePtr> &a, bool v2)
    {
        if (a.size() < 4 || a[0]->kind != Kind::Storage || a[2]->kind != Kind::Tuple || a[3]->kind != Kind::Tuple ||
            (v2 && a.size() < 6))
            fail("_rebuild_tensor with unexpected arguments");
        auto t = std::make_shared<TensorRef>();
        t->storage = a[0]->storage;
        bool ok = false;
        t->offset = toInt(*a[1], ok);
        if (!ok || t->offset < 0)
            fail("tensor storage offset is not a non-negative integer");
        if (a[2]->items.size() != a[3]->items.size() || a[2]->items.size() > 16)
            fail("tensor sizes and strides differ in length (or over 16 dimensions)");
        for (std::size_t i = 0; i < a[2]->items.size(); ++i) {
            bool okSize = false, okStride = false;
            const int64_t s = toInt(*a[2]->items[i], okSize), st = toInt(*a[3]->items[i], okStride);
            if (!okSize || !okStride || s < 0 || st < 0 || s > (int64_t(1) << 40) || st > (int64_t(1) << 40))
                fail("tensor sizes or strides are not small non-negative integers");
            t->sizes.push_back(s);
            t->strides.push_back(st);
        }
        // Overflow-safe: every size and stride is under 2^40 and there are at most 16.
        long double elements = 1, reach = 0;
        for (std::size_t i = 0; i < t->sizes.size(); ++i) {
            elements *= t->sizes[i];
            if (t->sizes[i] > 0)
                reach += (long double)(t->sizes[i] - 1) * t->strides[i];
        }
        if (elements > 1e15L || reach + t->offset > 1e15L)
            fail("tensor larger than any file");
        if (t->numel() > 0 && t->extent() > t->storage->numel)
            fail("tensor view reaches element " + std::to_string(t->extent()) + " of a storage of " +
                 std::to_string(t->storage->numel));
        ValuePtr v = make(Kind::Tensor);
        v->tensor = std::move(t);
        return v;
    }

    // REDUCE / NEWOBJ: what "calling" `fn` with `args` gives, without running anything.
    ValuePtr call(const ValuePtr &fn, const ValuePtr &args)
    {
        if (fn->kind != Kind::Global)
            fail("calls " + fn->describe() + ", which is not a global");
        if (args->kind != Kind::Tuple)
            fail("calls " + fn->text + " with " + args->describe() + " instead of an argument tuple");
        const std::string &f = fn->text;
        const auto &a = args->items;
        if (f == "collections.OrderedDict" || f == "builtins.dict") {
            if (!a.empty())
                fail(f + " called with arguments");
            return make(Kind::Dict);
        }
        if (f == "torch._utils._rebuild_tensor_v2")
            return rebuildTensor(a, true);
        if (f == "torch._utils._rebuild_tensor")
            return rebuildTensor(a, false);
        if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state" ||
            f == "torch.nn.parameter.Parameter") {
            if (a.empty() || a[0]->kind != Kind::Tensor)
                fail(f + " without a tensor");
            return a[0];
        }
        if (f == "torch._tensor._rebuild_from_type_v2") {
            if (a.size() < 3 || a[2]->kind != Kind::Tuple)
                fail(f + " with unexpected arguments");
            return call(a[0], a[2]);
        }
        if (f == "torch.Size" || f == "builtins.tuple") {
            if (a.size() == 1 && (a[0]->kind == Kind::Tuple || a[0]->kind == Kind::List))
                return tuple(a[0]->items);
            if (a.empty())
                return tuple({});
            fail(f + " with unexpected arguments");
        }
        if (f.rfind("torch.jit._pickle.build_", 0) == 0 || f == "builtins.list" || f == "builtins.set" ||
            f == "builtins.frozenset") {
            if (a.empty())
                return make(Kind::List);
            if (a.size() != 1 || (a[0]->kind != Kind::List && a[0]->kind != Kind::Tuple))
                fail(f + " without a list");
            ValuePtr l = make(Kind::List);
            for (auto &i : a[0]->items)
                nest(*l, *i);
            l->items = a[0]->items;
            return l;
        }
        if (f == "torch.jit._pickle.restore_type_tag") {
            if (a.empty())
                fail(f + " without a value");
            return a[0];
        }
        if (f == "torch.device") {
            ValuePtr s = make(Kind::String);
            s->text = a.empty() || a[0]->kind != Kind::String ? "" : a[0]->text;
            return s;
        }
        // Not allowed (storage types and dtypes are not callables either): an inert record.
        ValuePtr o = make(Kind::Object);
        o->text = f;
        nest(*o, *args);
        o->items = a;
        return o;
    }

    ValuePtr persistentLoad(const ValuePtr &pid)
    {
        if (pid->kind != Kind::Tuple || pid->items.size() != 5 || pid->items[0]->kind != Kind::String ||
            pid->items[0]->text != "storage")
            fail("persistent id " + pid->describe() + " is not ('storage', type, key, location, numel)");
        const auto &a = pid->items;
        if (a[1]->kind != Kind::Global)
            fail("storage type is " + a[1]->describe());
        c10::ScalarType dt;
        if (!storageTypeDtype(a[1]->text, dt))
            fail("storage type " + a[1]->text + " is not supported (float, half, bfloat16, double, integer, bool)");
        if (a[2]->kind != Kind::String || a[2]->text.empty() || a[2]->text.size() > 64 ||
            a[2]->text.find_first_of("/\\") != std::string::npos || a[2]->text.find("..") != std::string::npos)
            fail("storage key " + a[2]->describe() + " is not a plain record name");
        bool ok = false;
        const int64_t numel = toInt(*a[4], ok);
        if (!ok || numel < 0 || numel > (int64_t(1) << 50))
            fail("storage size " + a[4]->describe() + " is not a non-negative integer");
        auto &shared = m_storages[a[2]->text];
        if (!shared) {
            shared = std::make_shared<StorageRef>();
            shared->key = a[2]->text;
            shared->dtype = dt;
            shared->numel = numel;
            shared->location = a[3]->kind == Kind::String ? a[3]->text : "";
        } else if (shared->dtype != dt || shared->numel != numel) {
            fail("storage '" + shared->key + "' is named twice with different types or sizes");
        }
        ValuePtr v = make(Kind::Storage);
        v->storage = shared;
        return v;
    }

    void setItems(Value &dict, std::vector<ValuePtr> &kv, const char *op)
    {
        // A placeholder object filled like a dict (a dict subclass): its pairs go to entries.
        if (dict.kind != Kind::Dict && dict.kind != Kind::Object)
            fail(std::string(op) + " on " + dict.describe());
        requireMutable(dict, op);
        if (kv.size() % 2)
            fail(std::string(op) + " with an odd number of values");
        for (std::size_t i = 0; i < kv.size(); i += 2) {
            nest(dict, *kv[i]);
            nest(dict, *kv[i + 1]);
            dict.entries.emplace_back(kv[i], kv[i + 1]);
        }
    }
    void appendItems(Value &list, std::vector<ValuePtr> &items, const char *op)
    {
        if (list.kind != Kind::List)
            fail(std::string(op) + " on " + list.describe());
        requireMutable(list, op);
        for (auto &i : items) {
            nest(list, *i);
            list.items.push_back(i);
        }
    }

    ValuePtr number(int64_t i)
    {
        ValuePtr v = make(Kind::Int);
        v->integer = i;
        return v;
    }
    ValuePtr string(std::string s, Kind kind = Kind::String)
    {
        ValuePtr v = make(kind);
        v->text = std::move(s);
        return v;
    }
    ValuePtr longInt(const unsigned char *b, std::size_t n)
    {
        if (n > 8) // Python ints past 64 bits: no checkpoint field needs one
            return string("<integer of " + std::to_string(n) + " bytes>", Kind::Bytes);
        uint64_t v = 0;
        for (std::size_t i = n; i-- > 0;)
            v = (v << 8) | b[i];
        if (n > 0 && n < 8 && (b[n - 1] & 0x80))
            v |= ~uint64_t(0) << (8 * n); // sign-extend
        return number(int64_t(v));
    }
    ValuePtr textInt(const std::string &line)
    {
        if (line == "00" || line == "01") {
            ValuePtr b = make(Kind::Bool);
            b->boolean = line == "01";
            return b;
        }
        std::string s = line;
        if (!s.empty() && s.back() == 'L')
            s.pop_back();
        try {
            std::size_t used = 0;
            const long long v = std::stoll(s, &used);
            if (used != s.size())
                fail("integer '" + line.substr(0, 40) + "' is malformed");
            return number(v);
        } catch (const std::logic_error &) {
            fail("integer '" + line.substr(0, 40) + "' is malformed or too large");
        }
    }

    void step(unsigned char op)
    {
        switch (op) {
        case 0x80: // PROTO
            if (*take(1) > 5)
                fail("pickle protocol above 5");
            break;
        case 0x95: // FRAME
            take(8);
            break;
        case '(': // MARK
            if (m_marks.size() >= m_limits.maxStack)
                fail("too many MARKs");
            m_marks.push_back(m_stack.size());
            break;
        case '0': pop(); break; // POP
        case '1': popToMark(); break; // POP_MARK
        case '2': push(top()); break; // DUP
        case 'N': push(make(Kind::None)); break;
        case 0x88: case 0x89: { // NEWTRUE, NEWFALSE
            ValuePtr b = make(Kind::Bool);
            b->boolean = op == 0x88;
            push(b);
            break;
        }
        case 'J': push(number(int32_t(uint32_t(readLe(4))))); break; // BININT
        case 'K': push(number(int64_t(readLe(1)))); break;            // BININT1
        case 'M': push(number(int64_t(readLe(2)))); break;            // BININT2
        case 0x8a: { // LONG1
            const std::size_t n = std::size_t(readLe(1));
            push(longInt(take(n), n));
            break;
        }
        case 0x8b: { // LONG4
            const uint64_t n = readLe(4);
            if (n > uint64_t(m_end - m_p))
                fail("LONG4 of " + std::to_string(n) + " bytes past the end");
            push(longInt(take(std::size_t(n)), std::size_t(n)));
            break;
        }
        case 'I': push(textInt(readLine())); break; // INT
        case 'L': push(textInt(readLine())); break; // LONG
        case 'G': { // BINFLOAT: big-endian double
            const unsigned char *b = take(8);
            uint64_t bits = 0;
            for (int i = 0; i < 8; ++i)
                bits = (bits << 8) | b[i];
            ValuePtr f = make(Kind::Float);
            std::memcpy(&f->real, &bits, 8);
            push(f);
            break;
        }
        case 'F': { // FLOAT
            const std::string line = readLine();
            ValuePtr f = make(Kind::Float);
            std::istringstream in(line);
            in >> f->real;
            if (!in)
                fail("float '" + line.substr(0, 40) + "' is malformed");
            push(f);
            break;
        }
        case 'X': push(string(readBytes(readLe(4)))); break;             // BINUNICODE
        case 0x8c: push(string(readBytes(readLe(1)))); break;            // SHORT_BINUNICODE
        case 0x8d: push(string(readBytes(readLe(8)))); break;            // BINUNICODE8
        case 'T': push(string(readBytes(readLe(4)))); break;             // BINSTRING
        case 'U': push(string(readBytes(readLe(1)))); break;             // SHORT_BINSTRING
        case 'B': push(string(readBytes(readLe(4)), Kind::Bytes)); break; // BINBYTES
        case 'C': push(string(readBytes(readLe(1)), Kind::Bytes)); break; // SHORT_BINBYTES
        case 0x8e: case 0x96: push(string(readBytes(readLe(8)), Kind::Bytes)); break; // BINBYTES8, BYTEARRAY8
        case 'V': push(string(readLine())); break; // UNICODE (raw-unicode-escape; names are ASCII)
        case 'S': { // STRING: a quoted repr
            std::string s = readLine();
            if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"') && s.back() == s.front())
                s = s.substr(1, s.size() - 2);
            push(string(s));
            break;
        }
        case ')': push(tuple({})); break; // EMPTY_TUPLE
        case 0x85: case 0x86: case 0x87: { // TUPLE1..3
            const std::size_t n = std::size_t(op - 0x84);
            std::vector<ValuePtr> items(n);
            for (std::size_t i = n; i-- > 0;)
                items[i] = pop();
            push(tuple(std::move(items)));
            break;
        }
        case 't': push(tuple(popToMark())); break; // TUPLE
        case ']': push(make(Kind::List)); break;   // EMPTY_LIST
        case 0x8f: push(make(Kind::List)); break;  // EMPTY_SET
        case 'l': { // LIST
            auto items = popToMark();
            ValuePtr l = make(Kind::List);
            appendItems(*l, items, "LIST");
            push(l);
            break;
        }
        case 0x91: { // FROZENSET
            auto items = popToMark();
            ValuePtr l = make(Kind::List);
            appendItems(*l, items, "FROZENSET");
            push(l);
            break;
        }
        case '}': push(make(Kind::Dict)); break; // EMPTY_DICT
        case 'd': { // DICT
            auto kv = popToMark();
            ValuePtr d = make(Kind::Dict);
            setItems(*d, kv, "DICT");
            push(d);
            break;
        }
        case 'a': { // APPEND
            std::vector<ValuePtr> one{pop()};
            appendItems(*top(), one, "APPEND");
            break;
        }
        case 'e': case 0x90: { // APPENDS, ADDITEMS
            auto items = popToMark();
            appendItems(*top(), items, op == 'e' ? "APPENDS" : "ADDITEMS");
            break;
        }
        case 's': { // SETITEM
            ValuePtr v = pop(), k = pop();
            std::vector<ValuePtr> kv{k, v};
            setItems(*top(), kv, "SETITEM");
            break;
        }
        case 'u': { // SETITEMS
            auto kv = popToMark();
            setItems(*top(), kv, "SETITEMS");
            break;
        }
        case 'c': { // GLOBAL
            const std::string module = readLine();
            const std::string name = readLine();
            push(global(module, name));
            break;
        }
        case 0x93: { // STACK_GLOBAL
            ValuePtr name = pop(), module = pop();
            if (name->kind != Kind::String || module->kind != Kind::String)
                fail("STACK_GLOBAL without two strings");
            push(global(module->text, name->text));
            break;
        }
        case 'R': { // REDUCE
            ValuePtr args = pop();
            ValuePtr fn = pop();
            push(call(fn, args));
            break;
        }
        case 0x81: { // NEWOBJ
            ValuePtr args = pop();
            ValuePtr cls = pop();
            push(call(cls, args));
            break;
        }
        case 0x92: { // NEWOBJ_EX
            pop(); // kwargs
            ValuePtr args = pop();
            ValuePtr cls = pop();
            push(call(cls, args));
            break;
        }
        case 'b': { // BUILD
            ValuePtr state = pop();
            Value &target = *top();
            if (target.kind == Kind::Object || target.kind == Kind::Dict) {
                requireMutable(target, "BUILD");
                nest(target, *state);
                target.state = state;
            } // BUILD on a tensor (hooks, metadata) or anything else: nothing to keep
            break;
        }
        case 'Q': push(persistentLoad(pop())); break; // BINPERSID
        case 'q': memoPut(readLe(1)); break;          // BINPUT
        case 'r': memoPut(readLe(4)); break;          // LONG_BINPUT
        case 0x94: memoPut(m_memo.size()); break;     // MEMOIZE
        case 'p': { // PUT
            const std::string line = readLine();
            bool digits = !line.empty() && line.size() < 10 &&
                          std::all_of(line.begin(), line.end(), [](char c) { return c >= '0' && c <= '9'; });
            if (!digits)
                fail("PUT index '" + line.substr(0, 20) + "' is not a number");
            memoPut(std::stoull(line));
            break;
        }
        case 'h': memoGet(readLe(1)); break; // BINGET
        case 'j': memoGet(readLe(4)); break; // LONG_BINGET
        case 'g': { // GET
            const std::string line = readLine();
            bool digits = !line.empty() && line.size() < 10 &&
                          std::all_of(line.begin(), line.end(), [](char c) { return c >= '0' && c <= '9'; });
            if (!digits)
                fail("GET index '" + line.substr(0, 20) + "' is not a number");
            memoGet(std::stoull(line));
            break;
        }
        default: {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02x", op);
            fail(std::string("opcode ") + hex + " is not supported in a checkpoint (INST, OBJ, PERSID, "
                 "the extension registry and out-of-band buffers are refused)");
        }
        }
    }

    const Limits &m_limits;
    std::vector<ValuePtr> m_stack;
    std::vector<std::size_t> m_marks;
    std::unordered_map<uint64_t, ValuePtr> m_memo;
    std::map<std::string, std::shared_ptr<StorageRef>> m_storages;
    std::set<std::string> m_placeholders;
    std::size_t m_values = 0;
};

} // namespace

Result unpickle(const char *data, std::size_t size, const std::string &source, const Limits &limits)
{
    return Unpickler(data, size, source, limits).run();
}

} // namespace vitscope::pickle
