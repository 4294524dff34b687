# Builds the Windows installer of Trainwright: dist\Trainwright\ and
# dist\Trainwright-<version>-setup.exe.
#
# *** NOT RUN OR TESTED HERE *** (the project's machines are Linux). Run it on Windows 10/11 x64
# from the repository root, in PowerShell, with Python 3.11 and Inno Setup 6 (iscc) installed:
#     powershell -ExecutionPolicy Bypass -File packaging\windows\build-windows.ps1
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")

if (-not (Test-Path .venv\Scripts\python.exe)) { py -3.11 -m venv .venv }
$py = ".venv\Scripts\python.exe"
& $py -m pip install --upgrade pip
# constraints.txt pins torch==2.13.0; on Windows the CPU wheel comes from PyTorch's CPU index.
& $py -m pip install -c constraints.txt torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
& $py -m pip install -c constraints.txt -e ".[package]"

$version = & $py -c "import runpy; print(runpy.run_path('engine/_version.py')['__version__'])"
Write-Host "Trainwright $version"

& $py -m PyInstaller --noconfirm --distpath dist --workpath build\pyinstaller packaging\trainwright.spec
# The frozen self-test (Trainwright.exe is a windowed app: read the exit code, not the console).
$p = Start-Process dist\Trainwright\Trainwright.exe -ArgumentList "--self-test" -Wait -PassThru
if ($p.ExitCode -ne 0) { throw "self-test failed ($($p.ExitCode))" }

iscc /DAppVersion=$version packaging\windows\trainwright.iss
