; Inno Setup script for the Windows installer of Trainwright.
;
; *** NOT BUILT OR TESTED HERE. *** The Linux machines that build Trainwright cannot run
; PyInstaller for Windows (it does not cross-compile) nor Inno Setup. See README.md beside
; this file for the steps on a Windows machine.
;
; Input:  dist\Trainwright\ made by `pyinstaller packaging\trainwright.spec` on Windows.
; Output: dist\Trainwright-<version>-setup.exe
; Build:  iscc /DAppVersion=0.1.0 packaging\windows\trainwright.iss
;         (build-windows.ps1 reads the version from engine\_version.py and passes it)

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z (build-windows.ps1 does)
#endif

[Setup]
AppId={{6E4D8C1A-3B7F-4E52-9C1D-7A2F0B5E8D31}
AppName=Trainwright
AppVersion={#AppVersion}
AppVerName=Trainwright {#AppVersion}
AppPublisher=Trainwright developers
DefaultDirName={autopf}\Trainwright
DefaultGroupName=Trainwright
DisableProgramGroupPage=yes
; Per-user install by default (no administrator rights needed); the dialog offers all users.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=Trainwright-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\trainwright.ico
UninstallDisplayIcon={app}\Trainwright.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
MinVersion=10.0

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\..\dist\Trainwright\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Trainwright"; Filename: "{app}\Trainwright.exe"
Name: "{autodesktop}\Trainwright"; Filename: "{app}\Trainwright.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\Trainwright.exe"; Description: "{cm:LaunchProgram,Trainwright}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; The app's own files only: the user's data home (%LOCALAPPDATA%\Trainwright) is kept.
Type: filesandordirs; Name: "{app}"
