// Reads its args, its environment and a file, through libc++ over WASI. No exceptions
// (manifest/README.md, "Languages"): errors are values here, as they must be.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char **argv)
{
    std::vector<std::string> args(argv, argv + argc);
    const char *greeting = std::getenv("GREETING");
    std::cout << (greeting ? greeting : "Hi") << " from C++:";
    for (const auto &arg : args)
        std::cout << ' ' << arg;
    std::cout << '\n';

    std::ifstream file("/etc/motd");
    if (!file) {
        std::cerr << "/etc/motd: cannot open\n";
        return 1;
    }
    for (std::string line; std::getline(file, line);)
        std::cout << "/etc/motd: " << line << '\n';
    return 0;
}
